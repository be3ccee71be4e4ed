"""PyTorch benchmark peer for benchmarks/engine-throughput/run.ts (same workload: M-member ensemble,
IWAE-K with fixed eps, Bernoulli MLP VAE, standard prior, float32, inference mode).
Usage: python3 torch_peer.py '{"shapes":[...], "batches":[...], "threads":[...], "seconds":S}'
Prints one JSON object per line. Also measures torch's sgemm peak."""
import json, math, sys, time
import torch
from blas_probe import loaded_blas
import torch.nn.functional as F

cfg = json.loads(sys.argv[1])
LOG2PI = math.log(2 * math.pi)


def make_member(d, enc, dec, dz, k, g):
    def lin(i, o):
        lim = math.sqrt(6 / (i + o))
        return ((torch.rand(i, o, generator=g) * 2 - 1) * lim, torch.zeros(o))
    enc_l, prev = [], d
    for h in enc:
        enc_l.append(lin(prev, h)); prev = h
    heads = lin(prev, 2 * dz)
    dec_l, prev = [], dz
    for h in dec:
        dec_l.append(lin(prev, h)); prev = h
    out = lin(prev, d)
    eps = torch.randn(k, dz, generator=g)
    return enc_l, heads, dec_l, out, eps


def member_scores(x, m, k, dz):
    enc_l, (wh, bh), dec_l, (wo, bo), eps = m
    h = x
    for w, b in enc_l:
        h = torch.relu(torch.addmm(b, h, w))
    hd = torch.addmm(bh, h, wh)
    mu, sraw = hd[:, :dz], hd[:, dz:]
    sigma = F.softplus(sraw) + 1e-4
    z = mu[:, None, :] + sigma[:, None, :] * eps[None]
    logq = (-0.5 * eps.pow(2).sum(1) - dz / 2 * LOG2PI)[None, :] - torch.log(sigma).sum(1, keepdim=True)
    logpz = -0.5 * z.pow(2).sum(2) - dz / 2 * LOG2PI
    g = z.reshape(-1, dz)
    for w, b in dec_l:
        g = torch.relu(torch.addmm(b, g, w))
    out = torch.addmm(bo, g, wo).reshape(x.shape[0], k, -1)
    ll = (x[:, None, :] * out).sum(2) - F.softplus(out).sum(2)
    logw = ll + logpz - logq
    iwae = torch.logsumexp(logw, 1) - math.log(k)
    rate = (logq - logpz).mean(1)
    return iwae, rate


def ensemble(x, members, k, dz):
    res = [member_scores(x, m, k, dz) for m in members]
    logp = torch.stack([r[0] for r in res], 1)
    rate = torch.stack([r[1] for r in res], 1)
    mean = logp.mean(1)
    var = ((logp - mean[:, None]) ** 2).mean(1)
    return logp, mean, var, mean - var, rate.mean(1)


def timed(fn, seconds):
    """(wall seconds per call, process CPU seconds per call), after one warm-up call."""
    fn()
    t0 = time.perf_counter(); c0 = time.process_time(); it = 0
    while True:
        fn(); it += 1
        el = time.perf_counter() - t0
        if el >= seconds or it >= 10000:
            return el / it, (time.process_time() - c0) / it


print(json.dumps({"kind": "blas", "libs": loaded_blas()}), flush=True)
torch.set_num_interop_threads(1)
for t in cfg["threads"]:
    torch.set_num_threads(t)
    a = torch.randn(2048, 2048); b = torch.randn(2048, 2048)
    with torch.inference_mode():
        s, c = timed(lambda: torch.mm(a, b), 2.0)
    print(json.dumps({"kind": "peak", "threads": t, "gflops": 2 * 2048 ** 3 / s / 1e9, "gflopsCpu": 2 * 2048 ** 3 / c / 1e9}), flush=True)
    for sh in cfg["shapes"]:
        g = torch.Generator().manual_seed(1)
        members = [make_member(sh["d"], sh["enc"], sh["dec"], sh["dz"], sh["k"], g) for _ in range(sh["m"])]
        for n in cfg["batches"]:
            x = torch.rand(n, sh["d"], generator=g)
            with torch.inference_mode():
                s, c = timed(lambda: ensemble(x, members, sh["k"], sh["dz"]), cfg["seconds"])
            print(json.dumps({"kind": "score", "shape": sh["name"], "threads": t, "batch": n, "rps": n / s, "rpsCpu": n / c}), flush=True)
