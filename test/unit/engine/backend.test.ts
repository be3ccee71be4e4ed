/** Backend selection (src/engine/backend.ts). */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { initBackend, currentBackend } from '../../../src/engine/backend.js';

describe('initBackend', () => {
  it('auto picks wasm with SIMD here (the native tfjs-node packages are absent), and reports it', async () => {
    const info = await initBackend();
    expect(info.name).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(info.detail).toMatch(/^wasm \(SIMD, 1 thread\)$/);
    expect(info.warnings).toEqual([]);
    expect(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')).toBe(true);
    expect(currentBackend()).toBe(info);
    // Computes correctly.
    const r = tf.tidy(() => tf.matMul(tf.tensor2d([[1, 2]]), tf.tensor2d([[3], [4]])).dataSync()[0]);
    expect(r).toBe(11);
  });

  it('the pure-JS cpu backend comes with a loud warning; strict native fails with a typed error', async () => {
    const cpu = await initBackend({ prefer: 'cpu', strict: true });
    expect(cpu.name).toBe('cpu');
    expect(cpu.warnings.join(' ')).toMatch(/WARNING.*slower/);
    await expect(initBackend({ prefer: 'tensorflow-gpu', strict: true })).rejects.toMatchObject({
      code: 'E_BACKEND',
    });
    const back = await initBackend('wasm');
    expect(back.name).toBe('wasm');
  });
});
