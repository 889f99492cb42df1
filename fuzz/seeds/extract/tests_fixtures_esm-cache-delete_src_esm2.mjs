export default function esm2() {
  return 'esm2';
}
