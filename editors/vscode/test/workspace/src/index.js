import { run } from './main.js';
import { report } from './report.js';

run();
report();
