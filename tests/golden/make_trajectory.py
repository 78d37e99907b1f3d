#!/usr/bin/python3
"""PyTorch trajectory oracle: 20 MoCo steps of a whole world of workers, per key-encoder BN mode.

Run (Debian's python3-torch; nothing of this runs at test time):
    npx tsx tests/golden/dump-trajectory-inputs.ts            # our inputs -> test-artifacts/
    /usr/bin/python3 tests/golden/make_trajectory.py [test-artifacts/trajectory-inputs.json]
writes tests/golden/trajectory.json, which tests/train/trajectory.test.ts (CPU backend, Node) and
tests/train/trajectory.browser.test.ts (WebGPU, 2 tabs x 2 workers over WebRTC) replay.

The W workers of the world live in one process and one autograd graph: worker w owns rows
w*n .. w*n+n-1 of every activation, and BatchNorm statistics are taken per worker (or borrowed, or
global) by plain tensor code, so every gradient is exact by construction. All arithmetic is float64
(torch.float64), starting from the float32 values our generator produced: this is the independent
reference that our float32 tensors must approach.

Inputs come from our own code (dump-trajectory-inputs.ts): batches, initial weights, BN buffers and
queue, the per-step statistics permutation and the `samples` deal. No random stream of ours is
reimplemented here.

Semantics (src/train/moco.ts, src/nn/*): per step
  1. query encoder forward with local BN (each worker its own batch statistics), L2 normalise;
  2. key encoder forward without gradient, BN per mode, L2 normalise (samples: the world's key inputs
     dealt out by `order`, encoded with local BN, the keys dealt back);
  3. InfoNCE of logits [q.k+, q.queue^T]/T against the queue as it was before this step, mean over
     the world's W*n rows = the mean over workers of each worker's mean loss (DDP's gradient average);
  4. torch.optim.SGD(momentum, weight_decay) on the query encoder (decay on every parameter, BN
     gamma/beta and biases included: one parameter group, as our SGD);
  5. key encoder parameters (not buffers) <- m*key + (1-m)*query, with the query AFTER this step's SGD;
  6. the world's keys, in global worker order, overwrite queue rows ptr, ptr+1, ... (mod K);
     ptr += W*n;
  7. BN running statistics of both encoders updated once with the statistics each worker used.
Where this differs from stock PyTorch by definition, DEFINITIONS below says so (also in the JSON).

Second part, the encoder trained through its BN exchange: in MoCo the key encoder has no gradient and
the query encoder uses local BN, so no MoCo step backpropagates through borrowed (shuffle) or global
(sync) statistics. The same encoder with BN in those modes is therefore also trained on its own (loss
1 - <y/|y|, target> with unit targets from our generator, same SGD), which pins the hand-written
backward of the exchange (dmean/dvar sent back to the workers that produced the statistics).

Every setting is also run in torch.float32 with the same code: `torchFloat32Deviation` records how far
PyTorch's own float32 run strays from the float64 one, measured as the tests measure ours. It is the
float32 floor of the trajectory, against which the tests' tolerances are chosen.
"""
import base64
import hashlib
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_INPUTS = os.path.join(HERE, "..", "..", "test-artifacts", "trajectory-inputs.json")
OUT = os.path.join(HERE, "trajectory.json")

BN_EPS = 1e-5        # src/nn/layers/batchnorm.ts BN_DEFAULT_EPS (PyTorch's default)
BN_MOMENTUM = 0.1    # BN_DEFAULT_MOMENTUM (PyTorch's default)
L2_EPS = 1e-12       # F.normalize's default, as src/backend/cpu/loss.ts

DEFINITIONS = {
    "running_stats": "Running statistics are updated once per step with the average over ALL workers of the "
    "statistics each worker used (own, borrowed or global): running = 0.9*running + 0.1*avg_w(mean_w), "
    "running_var = 0.9*running_var + 0.1*avg_w(var_w)*count/(count-1) with count = n (local, shuffle, samples) "
    "or W*n (sync). This equals PyTorch's own per-worker update averaged over workers; stock DDP instead keeps "
    "rank 0's buffers (broadcast_buffers). In sync mode it is exactly SyncBatchNorm's update.",
    "key_bn_shuffle": "shuffle: worker w normalises its key batch with the biased batch mean/variance of worker "
    "sourceOf[w] (the seed project's ShuffleBN); stock PyTorch has no such layer. The key encoder runs without "
    "gradient, so no gradient flows through the borrowed statistics in MoCo training; the `encoder` part "
    "trains through them, with autograd's exact gradient (the borrowed statistics stay attached to their producers).",
    "key_bn_sync": "sync: every worker uses the biased mean/variance of the whole world's batch (W*n rows), like "
    "SyncBatchNorm; in the encoder part autograd differentiates through them.",
    "key_bn_samples": "samples: official MoCo's batch shuffle, at sample level: slot j of the world batch encodes "
    "global sample order[j], each worker's slot batch with local BN, keys returned to their samples.",
    "key_bn_running_stats": "The key encoder's BN running statistics are updated from its own forwards (MoCo copies "
    "only parameters into the key encoder and the EMA covers parameters, not buffers).",
    "loss": "Reported loss = mean InfoNCE over the world's W*n rows (= mean of the workers' mean losses).",
    "sgd": "torch.optim.SGD(lr, momentum, weight_decay, dampening=0, nesterov=False) on all query parameters.",
    "momentum_encoder": "After the SGD step: key = m*key + (1-m)*query (official MoCo applies it before the next "
    "key forward, which is the same sequence).",
    "queue": "Enqueue after the loss; rows (ptr + i) mod K; the world's keys in global worker (sample) order. "
    "Initial queue: our generator's L2-normalised Gaussian rows.",
    "l2_normalise": "x / max(|x|, 1e-12), F.normalize's definition.",
    "precision": "float64 throughout (torch.float64), from the float32 inputs and initial weights; final tensors "
    "stored rounded to float32 (relative rounding <= 6e-8, far below the tests' tolerances).",
}


def f64(b64, shape):
    raw = base64.b64decode(b64)
    return torch.from_numpy(np.frombuffer(raw, dtype="<f4").astype(np.float64).copy()).reshape(shape), raw


def f32_b64(t):
    return base64.b64encode(t.detach().cpu().numpy().astype("<f4").tobytes()).decode("ascii")


class Encoder:
    """Our encoder (src/nn/encoder.ts): [Linear, BN(affine), ReLU] per hidden width, Linear, BN(no affine).
    Child indices follow the Sequential, so tensor names match our `<prefix>.<index>.<name>`."""

    def __init__(self, prefix, tensors, config):
        self.prefix = prefix
        widths = [config["inputDim"], *config["hiddenDims"], config["outputDim"]]
        self.layers = []  # ("linear", i) | ("bn", i, affine) | ("relu",)
        index = 0
        for h in range(len(widths) - 1):
            last = h == len(widths) - 2
            self.layers.append(("linear", index))
            self.layers.append(("bn", index + 1, not last))
            index += 2
            if not last:
                self.layers.append(("relu",))
                index += 1
        self.t = {}
        for name, value in tensors.items():
            if name.startswith(prefix + "."):
                self.t[name[len(prefix) + 1:]] = value.clone()
        expected = []
        for layer in self.layers:
            if layer[0] == "linear":
                expected += [f"{layer[1]}.weight", f"{layer[1]}.bias"]
            elif layer[0] == "bn":
                expected += ([f"{layer[1]}.weight", f"{layer[1]}.bias"] if layer[2] else [])
                expected += [f"{layer[1]}.running_mean", f"{layer[1]}.running_var"]
        if sorted(expected) != sorted(self.t):
            raise SystemExit(f"{prefix}: dumped tensors {sorted(self.t)} do not match the encoder {sorted(expected)}")

    def parameter_names(self):
        """parameters() order of our Sequential: every Linear's weight, bias and affine BN's weight, bias."""
        names = []
        for layer in self.layers:
            if layer[0] == "linear" or (layer[0] == "bn" and layer[2]):
                names += [f"{layer[1]}.weight", f"{layer[1]}.bias"]
        return names

    def forward(self, x, stats_for, workers):
        """x: [W*n, in]. stats_for(bn_index, h) -> (mean_used [W, C], var_used [W, C], count). Local BN
        (own_stats) runs PyTorch's own F.batch_norm on each worker's rows, forward and backward."""
        used = []
        for layer in self.layers:
            if layer[0] == "linear":
                x = F.linear(x, self.t[f"{layer[1]}.weight"], self.t[f"{layer[1]}.bias"])
            elif layer[0] == "relu":
                x = F.relu(x)
            else:
                i, affine = layer[1], layer[2]
                h = x.reshape(workers, -1, x.shape[1])  # [W, n, C]
                mean, var, count = stats_for(i, h)
                gamma, beta = (self.t[f"{i}.weight"], self.t[f"{i}.bias"]) if affine else (None, None)
                if stats_for is own_stats:
                    y = torch.stack([F.batch_norm(h[w], None, None, gamma, beta, True, 0.0, BN_EPS) for w in range(workers)])
                else:
                    y = (h - mean[:, None, :]) / torch.sqrt(var[:, None, :] + BN_EPS)
                    if affine:
                        y = y * gamma + beta
                x = y.reshape(-1, x.shape[1])
                used.append((i, mean.detach(), var.detach(), count))
        return x, used

    def update_running(self, used):
        """Average over all workers of what each worker used; PyTorch's rule with the unbiased variance."""
        with torch.no_grad():
            for i, mean, var, count in used:
                rm, rv = self.t[f"{i}.running_mean"], self.t[f"{i}.running_var"]
                rm.mul_(1 - BN_MOMENTUM).add_(BN_MOMENTUM * mean.mean(0))
                rv.mul_(1 - BN_MOMENTUM).add_(BN_MOMENTUM * var.mean(0) * count / (count - 1))


def own_stats(_i, h):
    """Each worker's biased batch statistics (what F.batch_norm normalises with in training; the layer
    itself then runs F.batch_norm, see Encoder.forward)."""
    return h.mean(1), h.var(1, unbiased=False), h.shape[1]


def key_stats(mode, source_of):
    def stats(_i, h):
        mean, var = h.mean(1), h.var(1, unbiased=False)
        if mode == "shuffle":
            return mean[source_of], var[source_of], h.shape[1]
        if mode == "sync":
            flat = h.reshape(-1, h.shape[2])
            W = h.shape[0]
            return flat.mean(0).expand(W, -1), flat.var(0, unbiased=False).expand(W, -1), flat.shape[0]
        return mean, var, h.shape[1]  # local, and samples (local BN on the dealt batches)
    return stats


def run_setting(setting, dump, initial, dtype=torch.float64):
    """One setting's 20 steps; `dtype` float32 gives PyTorch's own float32 run of the same steps."""
    config = dump["config"]
    initial = {name: t.to(dtype) for name, t in initial.items()}
    W, n, K = dump["workers"], config["batchPerWorker"], config["queueSize"]
    T, m = config["temperature"], config["keyMomentum"]
    query = Encoder("query", initial, config)
    key = Encoder("key", initial, config)
    queue = initial["queue"].clone()
    ptr = 0
    names = query.parameter_names()
    for name in names:
        query.t[name].requires_grad_(True)
    opt = torch.optim.SGD([query.t[nm] for nm in names], lr=config["lr"], momentum=config["momentum"],
                          weight_decay=config["weightDecay"], dampening=0, nesterov=False)
    losses, worker_losses, accs = [], [], []
    for step in range(dump["steps"]):
        xq = torch.cat([dump["_batches"][step][w][0] for w in range(W)]).to(dtype)
        xk = torch.cat([dump["_batches"][step][w][1] for w in range(W)]).to(dtype)
        source_of = setting["sourceOf"][step]
        q, q_used = query.forward(xq, own_stats, W)
        q = F.normalize(q, dim=1, eps=L2_EPS)
        with torch.no_grad():
            order = setting["sampleOrder"][step] if setting["mode"] == "samples" else None
            k_in = xk[order] if order is not None else xk
            k, k_used = key.forward(k_in, key_stats(setting["mode"], source_of), W)
            k = F.normalize(k, dim=1, eps=L2_EPS)
            if order is not None:
                unshuffled = torch.empty_like(k)
                unshuffled[order] = k  # slot j encoded sample order[j]
                k = unshuffled
        positive = (q * k).sum(1, keepdim=True)
        negative = q @ queue.t()
        logits = torch.cat([positive, negative], 1) / T
        per_row = F.cross_entropy(logits, torch.zeros(W * n, dtype=torch.long), reduction="none")
        loss = per_row.mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            for nm in names:
                key.t[nm].mul_(m).add_(query.t[nm].detach(), alpha=1 - m)
            rows = (ptr + torch.arange(W * n)) % K
            queue[rows] = k
            ptr = (ptr + W * n) % K
        query.update_running(q_used)
        key.update_running(k_used)
        losses.append(loss.item())
        worker_losses.append(per_row.detach().reshape(W, n).mean(1).tolist())
        accs.append((logits[:, 0] > logits[:, 1:].max(1).values).double().mean().item())
    final_tensors = {}
    for enc in (query, key):
        for nm in [*enc.parameter_names(), *[x for x in enc.t if x.endswith(("running_mean", "running_var"))]]:
            final_tensors[f"{enc.prefix}.{nm}"] = enc.t[nm].detach()
    final_tensors["queue"] = queue
    final = {name: {"shape": list(t.shape), "data": f32_b64(t)} for name, t in final_tensors.items()}
    return {
        "name": setting["name"],
        "mode": setting["mode"],
        "permutation": setting["permutation"],
        "sourceOf": setting["sourceOf"],
        "sampleOrder": setting["sampleOrder"],
        "loss": losses,
        "workerLoss": worker_losses,
        "pretextAcc": accs,
        "queuePtr": ptr,
        "final": final,
        "_final": final_tensors,
    }


def run_encoder_setting(setting, dump, initial, targets, dtype=torch.float64):
    """The encoder trained THROUGH its BN exchange (tests/train/encoder-trajectory.ts): loss = mean over
    the world's rows of 1 - <y/|y|, target> (unit targets), SGD as above. Borrowed (shuffle) and global (sync) statistics
    are ordinary differentiable tensors here, so autograd sends their gradient back to the workers that
    produced them: the exact backward that our dmean/dvar exchange implements by hand."""
    config = dump["config"]
    W, n = dump["workers"], config["batchPerWorker"]
    initial = {name: t.to(dtype) for name, t in initial.items()}
    enc = Encoder("encoder", initial, config)
    names = enc.parameter_names()
    for name in names:
        enc.t[name].requires_grad_(True)
    opt = torch.optim.SGD([enc.t[nm] for nm in names], lr=config["lr"], momentum=config["momentum"],
                          weight_decay=config["weightDecay"], dampening=0, nesterov=False)
    losses = []
    for step in range(dump["steps"]):
        x = torch.cat([dump["_batches"][step][w][0] for w in range(W)]).to(dtype)
        target = torch.cat([targets[step][w] for w in range(W)]).to(dtype)
        y, used = enc.forward(x, key_stats(setting["mode"], setting["sourceOf"][step]), W)
        loss = (1 - (F.normalize(y, dim=1, eps=L2_EPS) * target).sum(1)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        enc.update_running(used)
        losses.append(loss.item())
    final_tensors = {}
    for nm in [*enc.parameter_names(), *[x for x in enc.t if x.endswith(("running_mean", "running_var"))]]:
        final_tensors[f"encoder.{nm}"] = enc.t[nm].detach()
    return {
        "name": setting["name"],
        "mode": setting["mode"],
        "permutation": setting["permutation"],
        "sourceOf": setting["sourceOf"],
        "loss": losses,
        "final": {name: {"shape": list(t.shape), "data": f32_b64(t)} for name, t in final_tensors.items()},
        "_final": final_tensors,
    }


def float32_deviation(ref, f32):
    """How far PyTorch's own float32 run of the same steps strays from the float64 one: the float32
    chaos of this trajectory, measured as the tests measure ours."""
    loss = max(abs(a - b) / abs(b) for a, b in zip(f32["loss"], ref["loss"]))
    final = max((torch.linalg.norm(f32["_final"][k].double() - t) / torch.linalg.norm(t)).item() for k, t in ref["_final"].items())
    return {"loss": loss, "final": final}


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_INPUTS
    with open(path) as f:
        dump = json.load(f)
    if dump.get("format") != 1:
        raise SystemExit(f"{path}: not a trajectory input dump (format {dump.get('format')})")
    config, W = dump["config"], dump["workers"]
    n = config["batchPerWorker"]
    digest = hashlib.sha256()
    batches = []
    for step in dump["batches"]:
        row = []
        for w in step:
            xq, raw_q = f64(w["query"], (n, config["inputDim"]))
            xk, raw_k = f64(w["key"], (n, config["inputDim"]))
            digest.update(raw_q)
            digest.update(raw_k)
            row.append((xq, xk))
        batches.append(row)
    dump["_batches"] = batches
    initial = {}
    for t in dump["initial"]:
        initial[t["name"]], raw = f64(t["data"], t["shape"])
        digest.update(raw)
    if digest.hexdigest() != dump["inputsSha256"]:
        raise SystemExit("the dump's inputs do not match its fingerprint")
    enc_dump = dump["encoder"]
    enc_digest = hashlib.sha256()
    for step in batches:
        for xq, xk in step:
            enc_digest.update(xq.numpy().astype("<f4").tobytes())
            enc_digest.update(xk.numpy().astype("<f4").tobytes())
    targets = []
    for step in enc_dump["targets"]:
        row = []
        for w in step:
            t, raw = f64(w, (n, config["outputDim"]))
            enc_digest.update(raw)
            row.append(t)
        targets.append(row)
    enc_initial = {}
    for t in enc_dump["initial"]:
        enc_initial[t["name"]], raw = f64(t["data"], t["shape"])
        enc_digest.update(raw)
    if enc_digest.hexdigest() != enc_dump["inputsSha256"]:
        raise SystemExit("the dump's encoder inputs do not match their fingerprint")
    encoder_results = []
    for s in enc_dump["settings"]:
        r = run_encoder_setting(s, dump, enc_initial, targets)
        r["torchFloat32Deviation"] = float32_deviation(r, run_encoder_setting(s, dump, enc_initial, targets, torch.float32))
        del r["_final"]
        encoder_results.append(r)
    results = []
    for s in dump["settings"]:
        r = run_setting(s, dump, initial)
        r["torchFloat32Deviation"] = float32_deviation(r, run_setting(s, dump, initial, torch.float32))
        del r["_final"]
        results.append(r)
    out = {
        "format": 1,
        "about": "MoCo trajectory of a world of workers computed by PyTorch (float64, autograd) from our generator's "
        "inputs; written by tests/golden/make_trajectory.py, replayed by tests/train/trajectory*.test.ts",
        "torch": torch.__version__,
        "dtype": "float64",
        "encoding": "final tensors: base64 of little-endian float32 (rounded from float64); losses full float64",
        "definitions": DEFINITIONS,
        "config": config,
        "workers": W,
        "steps": dump["steps"],
        "fingerprintAlgorithm": dump["fingerprintAlgorithm"],
        "inputsSha256": dump["inputsSha256"],
        "settings": results,
        "encoder": {
            "about": "The encoder alone trained through its BN exchange (loss: mean of -<y/|y|, target> over the world's rows): in MoCo "
            "the exchange's backward never runs (the key encoder has no gradient, the query encoder uses local BN).",
            "inputsSha256": enc_dump["inputsSha256"],
            "settings": encoder_results,
        },
    }
    with open(OUT, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    for r in results:
        dev = r["torchFloat32Deviation"]
        print(f"{r['name']:>15}: loss {r['loss'][0]:.6f} -> {r['loss'][-1]:.6f}, acc {r['pretextAcc'][-1]:.3f}; "
              f"torch float32 strays by {dev['loss']:.1e} (loss), {dev['final']:.1e} (final)")
    for r in encoder_results:
        dev = r["torchFloat32Deviation"]
        print(f"{'encoder ' + r['name']:>23}: loss {r['loss'][0]:.6f} -> {r['loss'][-1]:.6f}; "
              f"torch float32 strays by {dev['loss']:.1e} (loss), {dev['final']:.1e} (final)")
    print(f"wrote {OUT} ({os.path.getsize(OUT) // 1024} KiB)")


if __name__ == "__main__":
    main()
