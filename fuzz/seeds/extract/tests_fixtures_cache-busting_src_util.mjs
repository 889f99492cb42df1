let calls = 0;

export function stamp() {
  calls += 1;
  return `#${calls}`;
}
