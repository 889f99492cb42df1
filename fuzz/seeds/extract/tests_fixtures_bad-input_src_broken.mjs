export function ok() {
  return 1;
}

export const = ;
export function half( {
