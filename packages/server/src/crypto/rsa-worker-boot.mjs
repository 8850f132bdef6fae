// Worker threads do not inherit the parent's tsx loader, so each RSA worker registers it
// before loading the TypeScript worker module.
import { register } from 'tsx/esm/api';

register();
await import('./rsa-worker.ts');
