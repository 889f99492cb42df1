import { helper } from './helper.mjs';

export default {
  register() {
    helper('plugin registered');
  },
};
