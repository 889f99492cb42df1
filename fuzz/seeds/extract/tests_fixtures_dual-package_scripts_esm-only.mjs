// A separate program: it never runs together with src/, so one instance of 'dual'.
import d from 'dual';
d.register('script', 1);
