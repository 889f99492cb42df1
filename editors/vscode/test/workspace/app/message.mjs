export function message() {
  return 'version 1';
}
