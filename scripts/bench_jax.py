"""jax reference for `cargo bench --bench sweep`: the lab's full sweep (feedforward + BN with
frozen batch statistics, forward mode, depths 1..200, 256 points, width 200, 20 nets, f64)
jit-compiled by XLA on the CPU.

Two figures: `compute-only` (every weight drawn and on the device beforehand: the matmuls and
the rectifier, the arithmetic bound) and `whole job` (weights drawn inside the jitted sweep
with jax's threefry, and the ACF r(0..32) of every net's gradient at every depth, as the lab
does). Optional: the lab neither needs nor runs it.

Run: python3 scripts/bench_jax.py (needs jax)  (prints median seconds of 5 runs)
"""

import statistics
import sys
import time

import jax
import jax.numpy as jnp

jax.config.update("jax_enable_x64", True)

DEPTH, POINTS, WIDTH, NETS, MAX_LAG, EPS = 200, 256, 200, 20, 32, 1e-5
RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 5


def first_layer(w, b, v):
    """Layer 1 (no BN): values and tangents stacked as (nets, 2P, width); gradient g_1."""
    x = jnp.linspace(-2.0, 2.0, POINTS)
    z = x[None, :, None] * w[:, None, :] + b[:, None, :]
    on = z > 0
    h = jnp.where(on, z, 0.0)
    dh = jnp.where(on, w[:, None, :], 0.0)
    state = jnp.concatenate([h, dh], axis=1)
    return state, grads(state, v)


def grads(state, v):
    """g_l(x_p) = v . dh_l/dx, (nets, P)."""
    return jnp.einsum("rpn,rn->rp", state[:, POINTS:], v)


def hidden_layer(state, w, v):
    z = jnp.einsum("rpn,rnm->rpm", state, w)
    val, tan = z[:, :POINTS], z[:, POINTS:]
    mu = val.mean(axis=1, keepdims=True)
    inv = 1.0 / jnp.sqrt(((val - mu) ** 2).mean(axis=1, keepdims=True) + EPS)
    y = (val - mu) * inv
    on = y > 0
    state = jnp.concatenate([jnp.where(on, y, 0.0), jnp.where(on, tan * inv, 0.0)], axis=1)
    return state, grads(state, v)


def acf(g):
    """Biased mean-subtracted ACF r(0..MAX_LAG) of each row of g (nets, P)."""
    c = g - g.mean(axis=1, keepdims=True)
    denom = (c * c).sum(axis=1)
    lags = [(c[:, : POINTS - k] * c[:, k:]).sum(axis=1) / denom for k in range(MAX_LAG + 1)]
    return jnp.stack(lags, axis=1).mean(axis=0)


@jax.jit
def compute_only(w1, b1, v, hidden):
    state, g1 = first_layer(w1, b1, v)

    def step(state, w):
        state, g = hidden_layer(state, w, v)
        return state, g

    _, gs = jax.lax.scan(step, state, hidden)
    return g1, gs


@jax.jit
def whole_job(key):
    k1, k2, k3, k4 = jax.random.split(key, 4)
    w1 = jnp.sqrt(2.0) * jax.random.normal(k1, (NETS, WIDTH))
    b1 = jax.random.normal(k2, (NETS, WIDTH))
    v = jax.random.normal(k3, (NETS, WIDTH)) / jnp.sqrt(WIDTH)
    state, g1 = first_layer(w1, b1, v)

    def step(state, k):
        w = jnp.sqrt(2.0 / WIDTH) * jax.random.normal(k, (NETS, WIDTH, WIDTH))
        state, g = hidden_layer(state, w, v)
        return state, acf(g)

    _, acfs = jax.lax.scan(step, state, jax.random.split(k4, DEPTH - 1))
    return acf(g1), acfs


def median_seconds(fn):
    jax.block_until_ready(fn())  # compile and warm up
    times = []
    for _ in range(RUNS):
        t = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main():
    key = jax.random.PRNGKey(0)
    ks = jax.random.split(key, 4)
    w1 = jnp.sqrt(2.0) * jax.random.normal(ks[0], (NETS, WIDTH))
    b1 = jax.random.normal(ks[1], (NETS, WIDTH))
    v = jax.random.normal(ks[2], (NETS, WIDTH)) / jnp.sqrt(WIDTH)
    hidden = jnp.sqrt(2.0 / WIDTH) * jax.random.normal(ks[3], (DEPTH - 1, NETS, WIDTH, WIDTH))
    hidden = jax.block_until_ready(hidden)
    compute = median_seconds(lambda: compute_only(w1, b1, v, hidden))
    whole = median_seconds(lambda: whole_job(key))
    flops = 2.0 * (DEPTH - 1) * NETS * 2 * POINTS * WIDTH * WIDTH
    print(f"jax {jax.__version__} sweep ff+BN depths 1-{DEPTH} P={POINTS} N={WIDTH} nets={NETS} f64")
    print(f"jax compute-only (weights drawn beforehand): {compute:.3f} s ({flops / compute / 1e9:.0f} GFLOP/s in matmuls)")
    print(f"jax whole job (threefry draws + ACF every depth): {whole:.3f} s")


if __name__ == "__main__":
    main()
