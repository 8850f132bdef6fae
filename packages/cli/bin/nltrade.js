#!/usr/bin/env node
// The built CLI (`npm run build`; `npm start` builds what is missing or stale).
import { main } from '../dist/main.js';

process.exitCode = await main(process.argv.slice(2));
