#!/usr/bin/env python3
"""Trains inspectd's demo detector (plates and their defects) on the synthetic line and exports it to ONNX.

A compact anchor-free YOLO-style network: small conv backbone (strides 2..32), FPN-lite with heads on
strides 8 and 16 (defects 14-60 px, plates 55-125 px at 320 px input), decoupled box/cls branches, direct
ltrb regression, task-aligned assignment (YOLOv8 style, no DFL). Exported with the Ultralytics v8 output
layout [1, 4+nc, N] (cx, cy, w, h in input pixels, sigmoid class scores) so any YOLOv8 consumer reads it.

Run with Debian's python (torch 1.13 CPU, onnx):
  /usr/bin/python3 models/train.py --data DIR --out models/demo/inspectd-demo.onnx [--epochs 10] [--seed 0]
Deterministic for a seed on one machine: torch.manual_seed, one dataloading thread, fixed thread count.
"""
import argparse
import glob
import io
import json
import math
import os
import random
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

NAMES = ['scratch', 'dent', 'stain', 'missing_hole', 'plate']
IMGSZ = 320
STRIDES = (8, 16)


# ----------------------------------------------------------------------------- data

def letterbox(im, size=IMGSZ):
    """Ultralytics letterbox: keep aspect, centre, pad with gray 114. Returns array and (scale, padx, pady)."""
    w, h = im.size
    s = min(size / w, size / h)
    nw, nh = round(w * s), round(h * s)
    if (nw, nh) != (w, h):
        im = im.resize((nw, nh), Image.BILINEAR)
    out = np.full((size, size, 3), 114, np.uint8)
    px, py = (size - nw) // 2, (size - nh) // 2
    out[py:py + nh, px:px + nw] = np.asarray(im)
    return out, (s, px, py)


class YoloFolder:
    """images/<split>/*.jpg + labels/<split>/*.txt, read into memory as JPEG bytes (decoded per batch)."""

    def __init__(self, root, split):
        self.files = sorted(glob.glob(os.path.join(root, 'images', split, '*.jpg')))
        if not self.files:
            raise SystemExit(f'no images under {root}/images/{split}')
        self.jpegs = [open(f, 'rb').read() for f in self.files]
        self.labels = []
        for f in self.files:
            lf = f.replace(os.sep + 'images' + os.sep, os.sep + 'labels' + os.sep)[:-4] + '.txt'
            rows = []
            if os.path.exists(lf):
                for line in open(lf):
                    p = line.split()
                    if len(p) == 5:
                        rows.append([float(x) for x in p])
            self.labels.append(np.array(rows, np.float32).reshape(-1, 5))

    def __len__(self):
        return len(self.files)

    def get(self, i, rng=None):
        im = Image.open(io.BytesIO(self.jpegs[i])).convert('RGB')
        w, h = im.size
        arr, (s, px, py) = letterbox(im)
        lab = self.labels[i].copy()
        boxes = np.zeros((len(lab), 4), np.float32)
        if len(lab):
            cx, cy, bw, bh = lab[:, 1] * w, lab[:, 2] * h, lab[:, 3] * w, lab[:, 4] * h
            boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], 1) * s
            boxes[:, [0, 2]] += px
            boxes[:, [1, 3]] += py
        if rng is not None:  # flips: the line looks the same mirrored
            if rng.random() < 0.5:
                arr = arr[:, ::-1]
                boxes[:, [0, 2]] = IMGSZ - boxes[:, [2, 0]]
            if rng.random() < 0.5:
                arr = arr[::-1]
                boxes[:, [1, 3]] = IMGSZ - boxes[:, [3, 1]]
        return np.ascontiguousarray(arr), lab[:, 0].astype(np.int64), boxes.astype(np.float32)


def collate(items):
    imgs = torch.from_numpy(np.stack([a for a, _, _ in items])).permute(0, 3, 1, 2).float().div_(255)
    m = max(1, max(len(c) for _, c, _ in items))
    cls = torch.zeros(len(items), m, dtype=torch.long)
    box = torch.zeros(len(items), m, 4)
    mask = torch.zeros(len(items), m, dtype=torch.bool)
    for i, (_, c, b) in enumerate(items):
        n = len(c)
        if n:
            cls[i, :n] = torch.from_numpy(c)
            box[i, :n] = torch.from_numpy(b)
            mask[i, :n] = True
    return imgs, cls, box, mask


# ----------------------------------------------------------------------------- model

class Conv(nn.Sequential):
    def __init__(self, c1, c2, k=3, s=1):
        super().__init__(nn.Conv2d(c1, c2, k, s, k // 2, bias=False), nn.BatchNorm2d(c2), nn.SiLU(inplace=True))


class Res(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.a = Conv(c, c // 2, 1)
        self.b = Conv(c // 2, c, 3)

    def forward(self, x):
        return x + self.b(self.a(x))


class Net(nn.Module):
    def __init__(self, nc=len(NAMES), w=48):
        super().__init__()
        self.nc = nc
        self.s1 = nn.Sequential(Conv(3, 16, 3, 2), Conv(16, 24, 3, 2))            # /4
        self.s3 = nn.Sequential(Conv(24, 48, 3, 2), Res(48), Res(48))             # /8
        self.s4 = nn.Sequential(Conv(48, 80, 3, 2), Res(80), Res(80))             # /16
        self.s5 = nn.Sequential(Conv(80, 112, 3, 2), Res(112))                    # /32 (context only)
        self.l5 = Conv(112, w, 1)
        self.l4 = Conv(80, w, 1)
        self.l3 = Conv(48, w, 1)
        self.f4 = Conv(w, w, 3)
        self.f3 = Conv(w, w, 3)
        self.box = nn.ModuleList(nn.Sequential(Conv(w, w, 3), nn.Conv2d(w, 4, 1)) for _ in STRIDES)
        self.cls = nn.ModuleList(nn.Sequential(Conv(w, w, 3), nn.Conv2d(w, nc, 1)) for _ in STRIDES)
        for b in self.box:
            nn.init.constant_(b[-1].bias, 1.9)  # softplus(1.9) ~ 2 strides: initial boxes overlap their anchor's gt
        for c in self.cls:
            nn.init.constant_(c[-1].bias, -4.6)  # prior 0.01

    def forward(self, x):
        x = self.s1(x)
        p3 = self.s3(x)
        p4 = self.s4(p3)
        p5 = self.s5(p4)
        t4 = self.f4(self.l4(p4) + F.interpolate(self.l5(p5), scale_factor=2.0, mode='nearest'))
        t3 = self.f3(self.l3(p3) + F.interpolate(t4, scale_factor=2.0, mode='nearest'))
        boxes, logits = [], []
        for i, f in enumerate((t3, t4)):
            boxes.append(self.box[i](f).flatten(2))   # B,4,HW
            logits.append(self.cls[i](f).flatten(2))  # B,nc,HW
        return torch.cat(boxes, 2), torch.cat(logits, 2)


def make_anchors(imgsz=IMGSZ):
    pts, strides = [], []
    for s in STRIDES:
        n = imgsz // s
        ys, xs = torch.meshgrid(torch.arange(n), torch.arange(n), indexing='ij')
        pts.append(torch.stack([xs, ys], -1).reshape(-1, 2).float().add(0.5).mul(s))
        strides.append(torch.full((n * n, 1), float(s)))
    return torch.cat(pts), torch.cat(strides)


def decode(raw_box, anchors, strides):
    """raw B,4,A -> xyxy B,A,4 in input pixels."""
    d = F.softplus(raw_box.transpose(1, 2)) * strides  # ltrb
    return torch.cat([anchors - d[..., :2], anchors + d[..., 2:]], -1)


class Export(nn.Module):
    """Ultralytics v8 layout: [1, 4+nc, N], cx cy w h pixels, sigmoid scores."""

    def __init__(self, net):
        super().__init__()
        self.net = net
        a, s = make_anchors()
        self.register_buffer('anchors', a.t().unsqueeze(0))  # 1,2,A
        self.register_buffer('strides', s.t().unsqueeze(0))  # 1,1,A

    def forward(self, images):
        raw, logits = self.net(images)
        d = F.softplus(raw) * self.strides
        lt, rb = d[:, :2], d[:, 2:]
        xy = self.anchors + (rb - lt) / 2
        wh = lt + rb
        return torch.cat([xy, wh, logits.sigmoid()], 1)


# ----------------------------------------------------------------------------- loss

def box_iou_pairs(a, b, eps=1e-7):
    """a: ...,4  b: ...,4 (broadcast) -> iou ..."""
    lt = torch.max(a[..., :2], b[..., :2])
    rb = torch.min(a[..., 2:], b[..., 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    area_a = (a[..., 2:] - a[..., :2]).clamp(min=0).prod(-1)
    area_b = (b[..., 2:] - b[..., :2]).clamp(min=0).prod(-1)
    return inter / (area_a + area_b - inter + eps)


def giou(a, b, eps=1e-7):
    iou = box_iou_pairs(a, b, eps)
    lt = torch.min(a[..., :2], b[..., :2])
    rb = torch.max(a[..., 2:], b[..., 2:])
    c = (rb - lt).clamp(min=0).prod(-1)
    lt2 = torch.max(a[..., :2], b[..., :2])
    rb2 = torch.min(a[..., 2:], b[..., 2:])
    inter = (rb2 - lt2).clamp(min=0).prod(-1)
    union = (a[..., 2:] - a[..., :2]).prod(-1) + (b[..., 2:] - b[..., :2]).prod(-1) - inter
    return iou - (c - union) / (c + eps)


@torch.no_grad()
def assign(scores, pboxes, anchors, gcls, gbox, gmask, topk=10, alpha=0.5, beta=6.0, eps=1e-9):
    """Task-aligned assignment. scores B,A,C (sigmoid); pboxes B,A,4; g* B,M. Returns fg B,A; tbox B,A,4; tscore B,A,C."""
    B, A, C = scores.shape
    M = gcls.shape[1]
    lt = anchors[None, None] - gbox[:, :, None, :2]
    rb = gbox[:, :, None, 2:] - anchors[None, None]
    in_gt = (torch.cat([lt, rb], -1).amin(-1) > eps) & gmask[:, :, None]  # B,M,A
    iou = box_iou_pairs(gbox[:, :, None, :], pboxes[:, None, :, :]).clamp(min=0)  # B,M,A
    s = scores.gather(2, gcls[:, None, :].expand(B, A, M)).permute(0, 2, 1)  # B,M,A
    align = s.pow(alpha) * iou.pow(beta) * in_gt
    k = min(topk, A)
    idx = align.topk(k, -1).indices
    mtop = torch.zeros_like(in_gt).scatter_(2, idx, True)
    pos = mtop & in_gt  # B,M,A
    multi = pos.sum(1) > 1  # B,A
    if multi.any():
        best = iou.argmax(1)  # B,A
        onehot = F.one_hot(best, M).permute(0, 2, 1).bool()
        pos = torch.where(multi[:, None, :], onehot & in_gt, pos)
    fg = pos.any(1)
    gi = pos.float().argmax(1)  # B,A
    tbox = gbox.gather(1, gi[..., None].expand(B, A, 4))
    tcls = gcls.gather(1, gi)
    align = align * pos
    norm = (align * (iou * pos).amax(-1, keepdim=True) / (align.amax(-1, keepdim=True) + eps)).amax(1)  # B,A
    tscore = F.one_hot(tcls, C).float() * (norm * fg)[..., None]
    return fg, tbox, tscore


def loss_fn(raw, logits, anchors, strides, gcls, gbox, gmask):
    pboxes = decode(raw, anchors, strides)  # B,A,4
    logits = logits.transpose(1, 2)  # B,A,C
    fg, tbox, tscore = assign(logits.detach().sigmoid(), pboxes.detach(), anchors, gcls, gbox, gmask)
    tss = tscore.sum().clamp(min=1.0)
    lcls = F.binary_cross_entropy_with_logits(logits, tscore, reduction='sum') / tss
    if fg.any():
        w = tscore.sum(-1)[fg]
        lbox = ((1.0 - giou(pboxes[fg], tbox[fg])) * w).sum() / tss
    else:
        lbox = pboxes.sum() * 0
    return lcls + 5.0 * lbox, lcls.detach(), lbox.detach()


# ----------------------------------------------------------------------------- eval (cross-check only)

def nms(boxes, scores, iou):
    keep = []
    order = scores.argsort(descending=True)
    while order.numel():
        i = order[0]
        keep.append(i.item())
        if order.numel() == 1:
            break
        ious = box_iou_pairs(boxes[i][None], boxes[order[1:]])
        order = order[1:][ious <= iou]
    return keep


@torch.no_grad()
def quick_map50(model, ds, limit=300, conf=0.001):
    """mAP50 on letterboxed coordinates, for progress logs. The model card figure comes from `inspectd eval`."""
    model.eval()
    exp = Export(model).eval()
    recs = {c: [] for c in range(len(NAMES))}
    npos = [0] * len(NAMES)
    for i in range(min(limit, len(ds))):
        arr, c, b = ds.get(i)
        x = torch.from_numpy(arr).permute(2, 0, 1)[None].float() / 255
        out = exp(x)[0].t()  # A, 4+nc
        xy, wh, sc = out[:, :2], out[:, 2:4], out[:, 4:]
        boxes = torch.cat([xy - wh / 2, xy + wh / 2], 1)
        conf_, cls_ = sc.max(1)
        m = conf_ > conf
        boxes, conf_, cls_ = boxes[m], conf_[m], cls_[m]
        for cc in c.tolist():
            npos[cc] += 1
        for k in range(len(NAMES)):
            mk = cls_ == k
            if not mk.any():
                continue
            bk, sk = boxes[mk], conf_[mk]
            keep = nms(bk, sk, 0.7)[:300]
            gts = torch.from_numpy(b[c == k])
            used = [False] * len(gts)
            for j in keep:
                tp = 0
                if len(gts):
                    ious = box_iou_pairs(bk[j][None], gts)
                    best = int(ious.argmax())
                    if ious[best] >= 0.5 and not used[best]:
                        used[best] = True
                        tp = 1
                recs[k].append((float(sk[j]), tp))
    aps = []
    for k in range(len(NAMES)):
        if npos[k] == 0:
            continue
        r = sorted(recs[k], key=lambda t: -t[0])
        tps = np.cumsum([t for _, t in r]) if r else np.zeros(0)
        fps = np.cumsum([1 - t for _, t in r]) if r else np.zeros(0)
        rec = tps / npos[k]
        prec = tps / np.maximum(tps + fps, 1e-9)
        mrec = np.concatenate([[0.0], rec, [1.0]])
        mpre = np.concatenate([[1.0], prec, [0.0]])
        mpre = np.flip(np.maximum.accumulate(np.flip(mpre)))
        x = np.linspace(0, 1, 101)
        aps.append(float(np.trapz(np.interp(x, mrec, mpre), x)))
    model.train()
    return float(np.mean(aps)) if aps else 0.0, aps


# ----------------------------------------------------------------------------- main

class EMA:
    def __init__(self, model, decay=0.999):
        import copy
        self.m = copy.deepcopy(model).eval()
        self.decay = decay
        self.updates = 0
        for p in self.m.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model):
        self.updates += 1
        d = self.decay * (1 - math.exp(-self.updates / 500))
        msd = model.state_dict()
        for k, v in self.m.state_dict().items():
            if v.dtype.is_floating_point:
                v.mul_(d).add_(msd[k].detach(), alpha=1 - d)
            else:
                v.copy_(msd[k])


def export_onnx(model, path, meta):
    import onnx
    exp = Export(model).eval()
    x = torch.zeros(1, 3, IMGSZ, IMGSZ)
    tmp = path + '.tmp'
    torch.onnx.export(exp, x, tmp, opset_version=12, input_names=['images'], output_names=['output0'],
                      do_constant_folding=True)
    m = onnx.load(tmp)
    del m.metadata_props[:]
    for k, v in meta.items():
        p = m.metadata_props.add()
        p.key, p.value = k, v
    onnx.checker.check_model(m)
    onnx.save(m, path)
    os.remove(tmp)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--data', required=True)
    ap.add_argument('--out', default='models/demo/inspectd-demo.onnx')
    ap.add_argument('--epochs', type=int, default=10)
    ap.add_argument('--batch', type=int, default=32)
    ap.add_argument('--lr', type=float, default=1e-3)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--max-minutes', type=float, default=0, help='stop early (after an epoch) past this time')
    ap.add_argument('--ckpt', default='')
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.set_num_threads(args.threads)
    rng = random.Random(args.seed)

    train = YoloFolder(args.data, 'train')
    val = YoloFolder(args.data, 'val')
    model = Net()
    nparam = sum(p.numel() for p in model.parameters())
    print(json.dumps({'train': len(train), 'val': len(val), 'params': nparam}), flush=True)
    ema = EMA(model)
    anchors, strides = make_anchors()
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=5e-4)
    steps_per_epoch = len(train) // args.batch
    total = steps_per_epoch * args.epochs
    warm = min(300, total // 10)

    def lr_at(step):
        if step < warm:
            return args.lr * (step + 1) / warm
        return args.lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm))))

    t0 = time.time()
    step = 0
    for epoch in range(args.epochs):
        order = list(range(len(train)))
        rng.shuffle(order)
        model.train()
        acc = [0.0, 0.0, 0]
        for bi in range(steps_per_epoch):
            batch = collate([train.get(i, rng) for i in order[bi * args.batch:(bi + 1) * args.batch]])
            imgs, gcls, gbox, gmask = batch
            for g in opt.param_groups:
                g['lr'] = lr_at(step)
            raw, logits = model(imgs)
            loss, lc, lb = loss_fn(raw, logits, anchors, strides, gcls, gbox, gmask)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
            opt.step()
            ema.update(model)
            step += 1
            acc[0] += float(lc)
            acc[1] += float(lb)
            acc[2] += 1
            if step % 25 == 0:
                print(json.dumps({'epoch': epoch, 'step': step, 'of': total, 'cls': round(acc[0] / acc[2], 4),
                                  'box': round(acc[1] / acc[2], 4), 'lr': round(lr_at(step), 6),
                                  'min': round((time.time() - t0) / 60, 2)}), flush=True)
                acc = [0.0, 0.0, 0]
        m50, aps = quick_map50(ema.m, val, limit=150)
        print(json.dumps({'epoch': epoch, 'val_map50_quick': round(m50, 4), 'per_class': [round(a, 3) for a in aps],
                          'min': round((time.time() - t0) / 60, 2)}), flush=True)
        if args.ckpt:
            torch.save({'model': ema.m.state_dict(), 'epoch': epoch}, args.ckpt)
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        meta = {
            'author': 'inspectd project',
            'description': 'inspectd demo detector: plates and their defects on a synthetic conveyor line, anchor-free YOLO-style, v8 output layout',
            'license': 'Apache-2.0 (trained by the inspectd project on its own synthetic data)',
            'version': '2',
            'task': 'detect',
            'stride': '32',
            'batch': '1',
            'imgsz': f'[{IMGSZ}, {IMGSZ}]',
            'names': '{' + ', '.join(f"{i}: '{n}'" for i, n in enumerate(NAMES)) + '}',
        }
        export_onnx(ema.m, args.out, meta)  # after every epoch: a usable model exists even if stopped early
        if args.max_minutes and (time.time() - t0) / 60 > args.max_minutes:
            print(json.dumps({'stopped_early': True, 'epoch': epoch}), flush=True)
            break
    print(json.dumps({'done': True, 'minutes': round((time.time() - t0) / 60, 2), 'out': args.out,
                      'bytes': os.path.getsize(args.out)}), flush=True)


if __name__ == '__main__':
    main()
