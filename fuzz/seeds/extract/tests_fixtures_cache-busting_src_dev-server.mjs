import { watch } from 'node:fs';

export async function loadFresh() {
  const mod = await import(`./plugin.mjs?v=${Date.now()}`);
  return mod.default;
}

export async function loadFreshLegacy() {
  const mod = await import('./plugin.mjs?t=' + Date.now());
  return mod.default;
}

export async function loadOnce() {
  const mod = await import('./plugin.mjs');
  return mod.default;
}

export async function loadByPath(pluginPath) {
  return import(pluginPath);
}

watch(new URL('.', import.meta.url), async () => {
  const plugin = await loadFresh();
  plugin.register();
});
