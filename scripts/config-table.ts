// Prints the README's configuration table from the settings themselves.
//   node --conditions=source --import tsx scripts/config-table.ts
import { configTable } from '@nltrade/server/config';

console.log(configTable());
