// What every benchmark result file records beside its figures: the machine, the date and the load.
import os from 'node:os';

export interface MachineInfo {
  date: string;
  cpu: string;
  cores: number;
  node: string;
  /** 1, 5 and 15 minute load averages when the file was written (a shared machine distorts timings). */
  loadAverage: number[];
}

export function machineInfo(): MachineInfo {
  return { date: new Date().toISOString(), cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, node: process.version, loadAverage: os.loadavg() };
}

