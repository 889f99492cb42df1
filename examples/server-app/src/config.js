import { defaults } from './Defaults.js';

export function loadConfig() {
  return { ...defaults, port: Number(process.env.PORT ?? defaults.port) };
}
