// Reads the same store, but under another URL: a second, separate store.
import { store } from './store.js?instance=metrics';
import bus from 'eventbus';

bus.on('request', () => {
  store.hits += 1;
});
