/** `node --import` this file to register delay-import-hooks.ts (see there). */
import { register } from 'node:module';

register(new URL('./delay-import-hooks.js', import.meta.url));
