import { tool } from '@x/tool';
export const label: string = String(tool);
