#!/usr/bin/python3
"""Golden values for the CPU backend, computed by PyTorch (autograd for every gradient).

Run: /usr/bin/python3 tests/golden/make_golden.py  (writes tests/golden/golden.json next to it).

Inputs are drawn in float32 with a fixed seed and stored exactly; references are computed in float64
from those same float32 values, so they are the exact answers the float32 backend approximates.
Floats are written with Python's repr (shortest string that round-trips a double): full precision.
Layouts follow the Backend contract: BN input [groups * n, c, h, w] is [groups, n, c, hw] row-major.
"""
import json
import os

import torch
import torch.nn.functional as F

torch.manual_seed(20191105)
EPS = 1e-5


def f32(*shape, scale=1.0, shift=0.0):
    """Random float32 input, returned as float64 holding exactly the float32 values."""
    return (torch.randn(*shape, dtype=torch.float32) * scale + shift).to(torch.float32).double()


def leaf(t):
    return t.clone().requires_grad_(True)


def flat(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def entry(t):
    return {"shape": list(t.shape), "data": flat(t)}


def bn_local(groups, n, c, hw_shape, affine):
    """Training BN with own batch statistics, run by PyTorch separately on each group."""
    x = f32(groups * n, c, *hw_shape, scale=2.0, shift=0.5)
    dy = f32(*x.shape)
    gamma = f32(c, scale=0.5, shift=1.0) if affine else None
    beta = f32(c) if affine else None
    xl = leaf(x)
    gl = leaf(gamma) if affine else None
    bl = leaf(beta) if affine else None
    ys, means, vars_ = [], [], []
    for g in range(groups):
        xg = xl[g * n:(g + 1) * n]
        dims = [0] + list(range(2, xg.dim()))
        v, m = torch.var_mean(xg.detach(), dim=dims, unbiased=False)
        means.append(m)
        vars_.append(v)
        ys.append(F.batch_norm(xg, None, None, gl, bl, training=True, eps=EPS))
    y = torch.cat(ys)
    y.backward(dy)
    hw = 1
    for d in hw_shape:
        hw *= d
    out = {
        "layout": {"groups": groups, "n": n, "c": c, "hw": hw},
        "eps": EPS,
        "x": entry(x), "dy": entry(dy),
        "mean": entry(torch.stack(means)), "var": entry(torch.stack(vars_)),
        "m2": entry(torch.stack(vars_) * n * hw),
        "y": entry(y), "dx": entry(xl.grad),
    }
    if affine:
        out.update(gamma=entry(gamma), beta=entry(beta), dgamma=entry(gl.grad), dbeta=entry(bl.grad))
    return out


def bn_borrowed(groups, n, c, hw, affine):
    """BN with borrowed statistics (leaf tensors), and the producer's backward through var_mean."""
    x = f32(groups * n, c, hw, scale=1.5, shift=-0.3)
    dy = f32(*x.shape)
    lender = f32(groups * n, c, hw, scale=1.2, shift=0.4)  # another worker's batch
    var0, mean0 = torch.var_mean(lender.reshape(groups, n, c, hw), dim=(1, 3), unbiased=False)
    mean0, var0 = mean0.float().double(), var0.float().double()  # the float32 stats that travel
    gamma = f32(c, scale=0.5, shift=1.0) if affine else None
    beta = f32(c) if affine else None
    xl, ml, vl = leaf(x), leaf(mean0), leaf(var0)
    gl = leaf(gamma) if affine else None
    bl = leaf(beta) if affine else None
    xg = xl.reshape(groups, n, c, hw)
    y = (xg - ml[:, None, :, None]) / torch.sqrt(vl[:, None, :, None] + EPS)
    if affine:
        y = y * gl[None, None, :, None] + bl[None, None, :, None]
    y.reshape(x.shape).backward(dy)
    out = {
        "layout": {"groups": groups, "n": n, "c": c, "hw": hw}, "eps": EPS,
        "x": entry(x), "dy": entry(dy), "mean": entry(mean0), "var": entry(var0),
        "y": entry(y.reshape(x.shape)), "dx": entry(xl.grad), "dmean": entry(ml.grad), "dvar": entry(vl.grad),
    }
    if affine:
        out.update(gamma=entry(gamma), beta=entry(beta), dgamma=entry(gl.grad), dbeta=entry(bl.grad))
    # Producer side: gradient of Σ mean·dmean + Σ var·dvar w.r.t. the producer's own x.
    px = leaf(f32(groups * n, c, hw, scale=1.1, shift=0.2))
    dmean, dvar = f32(groups, c), f32(groups, c)
    pv, pm = torch.var_mean(px.reshape(groups, n, c, hw), dim=(1, 3), unbiased=False)
    ((pm * dmean).sum() + (pv * dvar).sum()).backward()
    out["statsBackward"] = {
        "x": entry(px.detach()), "mean": entry(pm.detach()), "dmean": entry(dmean), "dvar": entry(dvar),
        "dx": entry(px.grad),
    }
    return out


def running_update():
    n, c, momentum = 6, 5, 0.1
    x = f32(n, c, scale=2.0, shift=1.0)
    rm0, rv0 = f32(c), f32(c).abs() + 0.5
    rm, rv = rm0.clone(), rv0.clone()
    F.batch_norm(x, rm, rv, None, None, training=True, momentum=momentum, eps=EPS)
    v, m = torch.var_mean(x, dim=0, unbiased=False)
    return {
        "count": n, "momentum": momentum, "x": entry(x),
        "mean": entry(m.float().double()), "var": entry(v.float().double()),
        "runningMean0": entry(rm0), "runningVar0": entry(rv0),
        # Reference from the float32-rounded batch stats the backend receives.
        "runningMean": entry((1 - momentum) * rm0 + momentum * m.float().double()),
        "runningVar": entry((1 - momentum) * rv0 + momentum * v.float().double() * n / (n - 1)),
        # PyTorch's own buffers (from unrounded stats), to show both agree.
        "torchRunningMean": entry(rm), "torchRunningVar": entry(rv),
    }


def linear():
    n, i, o = 5, 7, 3
    x, w, b, dy = f32(n, i), f32(o, i, scale=0.4), f32(o), f32(n, o)
    xl, wl, bl = leaf(x), leaf(w), leaf(b)
    y = F.linear(xl, wl, bl)
    y.backward(dy)
    return {"x": entry(x), "w": entry(w), "b": entry(b), "dy": entry(dy), "y": entry(y),
            "dx": entry(xl.grad), "dw": entry(wl.grad), "db": entry(bl.grad)}


def relu():
    x = f32(4, 6)
    x[0, 0] = 0.0
    x[1, 2] = -0.0
    dy = f32(4, 6)
    xl = leaf(x)
    y = F.relu(xl)
    y.backward(dy)
    return {"x": entry(x), "dy": entry(dy), "y": entry(y), "dx": entry(xl.grad)}


def normalize():
    x = f32(5, 6, scale=3.0)
    x[3] = 0.0  # zero row: the 1e-12 floor, dx = dy / 1e-12
    dy = f32(5, 6)
    xl = leaf(x)
    y = F.normalize(xl, dim=1, eps=1e-12)
    y.backward(dy)
    return {"x": entry(x), "dy": entry(dy), "y": entry(y), "dx": entry(xl.grad)}


def info_nce():
    n, d, k, t = 6, 8, 11, 0.07
    q = F.normalize(f32(n, d), dim=1).float().double()
    kp = F.normalize(q + 0.3 * f32(n, d), dim=1).float().double()
    queue = F.normalize(f32(k, d), dim=1).float().double()
    ql = leaf(q)
    logits = torch.cat([(ql * kp).sum(1, keepdim=True), ql @ queue.T], dim=1) / t
    loss = F.cross_entropy(logits, torch.zeros(n, dtype=torch.long))
    loss.backward()
    correct = int((logits[:, 0] > logits[:, 1:].max(dim=1).values).sum())
    return {"temperature": t, "q": entry(q), "kPos": entry(kp), "queue": entry(queue),
            "logits": entry(logits), "loss": float(loss), "correct": correct, "dq": entry(ql.grad)}


def sgd(momentum, weight_decay):
    lr, steps = 0.1, 3
    p0 = f32(7)
    grads = [f32(7) for _ in range(steps)]
    p = torch.nn.Parameter(p0.clone())
    opt = torch.optim.SGD([p], lr=lr, momentum=momentum, weight_decay=weight_decay)
    params = []
    for g in grads:
        p.grad = g.clone()
        opt.step()
        params.append(entry(p.detach().clone()))
    return {"lr": lr, "momentum": momentum, "weightDecay": weight_decay, "param0": entry(p0),
            "grads": [entry(g) for g in grads], "params": params}


def ema():
    m = 0.99
    target, source = f32(9), f32(9)
    out = target.clone().mul_(m).add_(source, alpha=1 - m)
    return {"m": m, "target": entry(target), "source": entry(source), "out": entry(out)}


def enqueue():
    k, d, b, ptr = 5, 3, 3, 4
    queue, keys = f32(k, d), f32(b, d)
    out = queue.clone()
    rows = (torch.arange(b) + ptr) % k
    out[rows] = keys
    return {"ptr": ptr, "queue": entry(queue), "keys": entry(keys), "out": entry(out)}


def main():
    golden = {
        "torch": torch.__version__,
        "bnLocal": {
            "nc": bn_local(1, 6, 5, [], True),
            "ncGroups": bn_local(3, 4, 5, [], True),
            "nchwGroups": bn_local(2, 3, 4, [2, 3], True),
            "nchwNoAffine": bn_local(2, 2, 3, [3, 2], False),
        },
        "bnBorrowed": {
            "ncGroups": bn_borrowed(3, 4, 5, 1, True),
            "nchwGroupsNoAffine": bn_borrowed(2, 3, 4, 6, False),
        },
        "bnRunning": running_update(),
        "linear": linear(),
        "relu": relu(),
        "normalize": normalize(),
        "infoNce": info_nce(),
        "sgd": {"momentumWd": sgd(0.9, 0.01), "plain": sgd(0.0, 0.0)},
        "ema": ema(),
        "enqueue": enqueue(),
    }
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden.json")
    with open(path, "w") as f:
        json.dump(golden, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    main()
