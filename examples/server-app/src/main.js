import './server.js';
import './metrics.js';
