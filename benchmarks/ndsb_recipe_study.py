"""Recipe study on NDSB: a standalone, pure-Keras harness used to choose taxoclass's training defaults.

It is NOT the product's code path (``taxoclass benchmark`` is): it trains one small model in a hand-written loop
so that single changes (architecture, augmentation, a log-size input, flat vs flat+tree heads) can be compared at
a fixed number of epochs on a busy machine, where wall-time budgets are not comparable. Figures and commands are
in docs/benchmarks.md ("Recipe study").

    python benchmarks/ndsb_recipe_study.py --arch cnn4 --width 32 --epochs 12 --head flat            # A
    python benchmarks/ndsb_recipe_study.py --arch cnn4 --width 32 --epochs 12 --head combo           # B
    python benchmarks/ndsb_recipe_study.py --arch cnn4 --width 32 --epochs 12 --head flat --sizefeat 1   # C

The first run caches the decoded images (split seed 0, 80/10/10, taxoclass.data.split) in --cache.
Prints one JSON line starting with RESULT.
"""
import os, sys, time, json, argparse, math
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np, tensorflow as tf, keras
from keras import layers, ops


def _prepare(cache, shared):
    from PIL import Image
    from taxoclass.data import from_folder, split
    ds = from_folder(f"{shared}/datasets/ndsb_plankton/images")
    m = split(ds, val_size=0.1, test_size=0.1, seed=0)
    classes = [l.strip() for l in open(f"{shared}/datasets/ndsb_plankton/classes.txt")]
    ci = {c: i for i, c in enumerate(classes)}
    root = f"{shared}/datasets/ndsb_plankton/images/"
    S = [48, 64]
    out = {s: [] for s in S}; sizes = []
    for p in m.path:
        im = Image.open(root + p).convert("L")
        w, h = im.size; sizes.append((w, h))
        side = max(w, h)
        canvas = Image.new("L", (side, side), 255); canvas.paste(im, ((side - w)//2, (side - h)//2))
        for s in S:
            out[s].append(np.asarray(canvas.resize((s, s), Image.BILINEAR if side < s else Image.LANCZOS)))
    y = np.array([ci[l] for l in m.label], np.int32)
    sp = np.array([{"train":0,"val":1,"test":2}[s] for s in m.split], np.int8)
    np.savez(cache, x48=np.stack(out[48]), x64=np.stack(out[64]), y=y, split=sp, sizes=np.array(sizes, np.int32))



p = argparse.ArgumentParser()
p.add_argument("--arch", default="vgg"); p.add_argument("--size", type=int, default=48)
p.add_argument("--width", type=int, default=32); p.add_argument("--budget", type=float, default=600)
p.add_argument("--epochs", type=int, default=0)
p.add_argument("--aug", default="full"); p.add_argument("--head", default="flat")
p.add_argument("--sizefeat", type=int, default=0); p.add_argument("--lr", type=float, default=2e-3)
p.add_argument("--wd", type=float, default=5e-4); p.add_argument("--ls", type=float, default=0.1)
p.add_argument("--bs", type=int, default=64); p.add_argument("--seed", type=int, default=0)
p.add_argument("--cw", default="none"); p.add_argument("--tag", default="")
p.add_argument("--cache", default="/tmp/taxoclass_ndsb_study.npz"); p.add_argument("--shared", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared"))
a = p.parse_args()
keras.utils.set_random_seed(a.seed)
if not os.path.exists(a.cache):
    _prepare(a.cache, a.shared)
d = np.load(a.cache)
x = d[f"x{a.size}"].astype(np.float32); x = (255. - x) / 255.; x = x[..., None]
y = d["y"]; sp = d["split"]; sz = d["sizes"].astype(np.float32)
sf = (np.log(sz.max(1)) - 4.0)[:, None].astype(np.float32)   # log size, roughly centred
tr, va, te = (sp == 0), (sp == 1), (sp == 2)
C = 121
# taxonomy -> edges
import csv
rows = list(csv.DictReader(open(os.path.join(a.shared, "datasets/ndsb_plankton/taxonomy.tsv")), delimiter="\t"))
classes = [l.strip() for l in open(os.path.join(a.shared, "datasets/ndsb_plankton/classes.txt"))]
lin = {r["class"]: r["lineage"].split("/") for r in rows}
edges = {}; children = {}
for c in classes:
    path = lin[c]
    for i in range(len(path)):
        parent = tuple(path[:i]); child = tuple(path[:i+1])
        children.setdefault(parent, [])
        if child not in children[parent]: children[parent].append(child)
internal = [n for n in children]
E = []; seg = []
for ni, n in enumerate(internal):
    for ch in children[n]:
        E.append((n, ch)); seg.append(ni)
eidx = {e[1]: i for i, e in enumerate(E)}
M = np.zeros((C, len(E)), np.float32)
for ci, c in enumerate(classes):
    path = lin[c]
    for i in range(len(path)):
        M[ci, eidx[tuple(path[:i+1])]] = 1
seg = np.array(seg, np.int32); NS = len(internal)
print("internal nodes", NS, "edges", len(E), flush=True)

class TreeLogProb(layers.Layer):
    def call(self, z):  # z: (B, E) -> leaf log probs (B, C)
        zt = tf.transpose(z)
        mx = tf.math.unsorted_segment_max(zt, seg, NS)
        lse = tf.math.log(tf.math.unsorted_segment_sum(tf.exp(zt - tf.gather(mx, seg)), seg, NS)) + mx
        ls = tf.transpose(zt - tf.gather(lse, seg))
        return ls @ tf.constant(M.T)

def conv_bn(x, f, k=3, s=1):
    x = layers.Conv2D(f, k, strides=s, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    return layers.ReLU()(x)

def backbone(inp):
    w = a.width
    x = inp
    if a.arch == "cnn4":
        for f in (w, 2*w, 4*w, 8*w):
            x = conv_bn(x, f); x = layers.MaxPooling2D()(x)
    elif a.arch == "vgg":
        for i, f in enumerate((w, 2*w, 4*w, 8*w)):
            x = conv_bn(x, f); x = conv_bn(x, f)
            if i < 3: x = layers.MaxPooling2D()(x)
    elif a.arch == "vgg3":
        x = conv_bn(x, w); x = conv_bn(x, w); x = layers.MaxPooling2D()(x)
        x = conv_bn(x, 2*w); x = conv_bn(x, 2*w); x = layers.MaxPooling2D()(x)
        x = conv_bn(x, 4*w); x = conv_bn(x, 4*w); x = conv_bn(x, 4*w); x = layers.MaxPooling2D()(x)
        x = conv_bn(x, 8*w); x = conv_bn(x, 8*w)
    elif a.arch == "resnet":
        x = conv_bn(x, w)
        for i, f in enumerate((w, 2*w, 4*w, 8*w)):
            s = 1 if i == 0 else 2
            sc = x if (s == 1 and x.shape[-1] == f) else layers.Conv2D(f, 1, strides=s, use_bias=False)(x)
            h = layers.BatchNormalization()(x); h = layers.ReLU()(h)
            h = layers.Conv2D(f, 3, strides=s, padding="same", use_bias=False)(h)
            h = layers.BatchNormalization()(h); h = layers.ReLU()(h)
            h = layers.Conv2D(f, 3, padding="same", use_bias=False)(h)
            x = layers.Add()([sc, h])
        x = layers.BatchNormalization()(x); x = layers.ReLU()(x)
    return layers.GlobalAveragePooling2D()(x)

inp = keras.Input((a.size, a.size, 1)); sin = keras.Input((1,))
f = backbone(inp)
if a.sizefeat: f = layers.Concatenate()([f, layers.Dense(16, activation="relu")(sin)])
f = layers.Dropout(0.3)(f)
outs = {}
if a.head in ("flat", "combo"):
    outs["flat"] = layers.Dense(C, name="flat_logits")(f)
if a.head in ("tree", "combo"):
    outs["tree"] = TreeLogProb(name="tree")(layers.Dense(len(E), name="edge_logits")(f))
model = keras.Model([inp, sin], outs)
print("params", model.count_params(), flush=True)

def aug_batch(xb):
    if a.aug == "none": return xb
    B = tf.shape(xb)[0]; S = a.size
    ang = tf.random.uniform([B], 0, 2 * math.pi)
    if a.aug == "full":
        zoom = tf.exp(tf.random.uniform([B], math.log(0.85), math.log(1.18)))
        tx = tf.random.uniform([B], -0.06, 0.06) * S; ty = tf.random.uniform([B], -0.06, 0.06) * S
    else:
        zoom = tf.ones([B]); tx = tf.zeros([B]); ty = tf.zeros([B])
    flip = tf.where(tf.random.uniform([B]) < 0.5, -1.0, 1.0)
    c, s = tf.cos(ang) / zoom, tf.sin(ang) / zoom
    cx = cy = (S - 1) / 2.0
    # output->input mapping: in = A @ (out - center) + center + t
    a0 = c * flip; a1 = -s; a2 = cx - a0 * cx - a1 * cy + tx
    b0 = s * flip; b1 = c; b2 = cy - b0 * cx - b1 * cy + ty
    T = tf.stack([a0, a1, a2, b0, b1, b2, tf.zeros([B]), tf.zeros([B])], 1)
    return tf.raw_ops.ImageProjectiveTransformV3(images=xb, transforms=T, output_shape=[S, S], interpolation="BILINEAR", fill_mode="CONSTANT", fill_value=0.0)

idx_tr = np.where(tr)[0]
w_cls = None
if a.cw == "sqrt":
    cnt = np.bincount(y[tr], minlength=C); w_cls = (cnt.max() / cnt) ** 0.5; w_cls = w_cls / (w_cls[y[tr]].mean())
def make_train():
    ds = tf.data.Dataset.from_tensor_slices((x[tr], sf[tr], y[tr])).shuffle(20000, seed=a.seed).batch(a.bs, drop_remainder=True)
    ds = ds.map(lambda xb, sb, yb: (aug_batch(xb), sb, yb), num_parallel_calls=1)
    return ds.prefetch(2)
opt = keras.optimizers.AdamW(learning_rate=a.lr, weight_decay=a.wd)
steps_per_epoch = tr.sum() // a.bs
wcls = tf.constant(w_cls if w_cls is not None else np.ones(C), tf.float32)
def ce(logp, yb):
    oh = tf.one_hot(yb, C); t = oh * (1 - a.ls) + a.ls / C
    return -tf.reduce_sum(t * logp, -1)
@tf.function(jit_compile=False)
def step(xb, sb, yb, lr):
    opt.learning_rate.assign(lr)
    with tf.GradientTape() as tape:
        o = model([xb, sb], training=True)
        wts = tf.gather(wcls, yb)
        loss = 0.
        if "flat" in o: loss += tf.reduce_mean(wts * ce(tf.nn.log_softmax(o["flat"]), yb))
        if "tree" in o: loss += tf.reduce_mean(wts * ce(o["tree"], yb))
    g = tape.gradient(loss, model.trainable_variables)
    opt.apply_gradients(zip(g, model.trainable_variables))
    return loss
def leafprob(o):
    ps = []
    if "flat" in o: ps.append(tf.nn.log_softmax(o["flat"]))
    if "tree" in o: ps.append(o["tree"])
    lp = tf.add_n(ps) / len(ps)
    return tf.nn.softmax(lp)
@tf.function
def pred(xb, sb): return leafprob(model([xb, sb], training=False))
def predict(xs, ss, tta=False):
    out = []
    for i in range(0, len(xs), 512):
        xb = tf.constant(xs[i:i+512]); sb = tf.constant(ss[i:i+512])
        if not tta: out.append(pred(xb, sb).numpy()); continue
        acc = 0
        for k in range(4):
            r = tf.image.rot90(xb, k)
            acc += pred(r, sb).numpy() + pred(tf.image.flip_left_right(r), sb).numpy()
        out.append(acc / 8)
    return np.concatenate(out)
t0 = time.time(); warm = steps_per_epoch // 2 if a.epochs == 0 else steps_per_epoch
total_epochs = a.epochs or 999; best = (-1, None); hist = []
ep = 0; gstep = 0
while ep < total_epochs:
    te0 = time.time(); losses = []
    for xb, sb, yb in make_train():
        total_steps = total_epochs * steps_per_epoch
        if gstep < warm: lr = a.lr * (gstep + 1) / warm
        else: lr = a.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, (gstep - warm) / max(1, total_steps - warm))))
        losses.append(float(step(xb, sb, yb, tf.constant(lr, tf.float32)))); gstep += 1
    ep += 1; et = time.time() - te0
    if ep == 1 and a.epochs == 0:
        # budget: leave ~ 4% for eval; epochs that fit
        total_epochs = max(2, int((a.budget * 0.96) / (et * 1.03)))
    pv = predict(x[va], sf[va]); vacc = float((pv.argmax(1) == y[va]).mean())
    hist.append((ep, round(float(np.mean(losses)), 4), round(vacc, 4), round(et, 1)))
    print(f"ep {ep}/{total_epochs} loss {np.mean(losses):.3f} val {vacc:.4f} {et:.0f}s total {time.time()-t0:.0f}s", flush=True)
    if vacc > best[0]: best = (vacc, model.get_weights())
train_time = time.time() - t0
model.set_weights(best[1])
pt = predict(x[te], sf[te]); ptt = predict(x[te], sf[te], tta=True)
res = dict(vars(a), train_s=round(train_time), epochs_run=ep, best_val=round(best[0], 4),
           test_top1=round(float((pt.argmax(1) == y[te]).mean()), 4), test_top1_tta=round(float((ptt.argmax(1) == y[te]).mean()), 4),
           test_top5_tta=round(float((np.argsort(-ptt, 1)[:, :5] == y[te][:, None]).any(1).mean()), 4), params=model.count_params())
print("RESULT", json.dumps(res), flush=True)
