import { BatchReader } from '../../batch/reader.js';
import { defineBehaviour } from '../behaviour.js';

export interface LevelCounts {
  entries: number;
  frames: number;
  /** DEBUG, INFO, WARN, ERROR. */
  byLevel: [number, number, number, number];
}

/** Counts the entries of every LogBatch it receives, per level: the simplest real consumer of batches. */
export const levelCounter = defineBehaviour<LevelCounts, void, 'counts', LevelCounts>({
  init() {
    return { entries: 0, frames: 0, byLevel: [0, 0, 0, 0] };
  },
  receive(state, frame) {
    const r = BatchReader.open(frame.body);
    const levels = r.levels();
    for (let i = 0; i < levels.length; i++) state.byLevel[levels[i] as 0 | 1 | 2 | 3]++;
    state.entries += r.count;
    state.frames++;
  },
  ask(state) {
    return state;
  },
});
