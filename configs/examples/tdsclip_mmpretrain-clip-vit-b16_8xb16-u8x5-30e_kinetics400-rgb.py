# TDS-CLIP's side network on a frozen mmpretrain VisionTransformer
# (CLIP-style ViT-B/16), Kinetics-400, with the TDS-CLIP recipe.
#
# The backbone's width, depth, patch size and patch grid are read from the
# built VisionTransformer; the neck never repeats them. Point
# model.backbone.pretrained at an mmpretrain CLIP ViT-B/16 checkpoint (a
# classifier checkpoint: its 'backbone.' keys are used); None leaves the
# tower random, which only a smoke test wants.
_base_ = [
    '../_base_/models/tdsclip_vit-b16.py',
    '../_base_/datasets/kinetics400_videos.py',
    '../_base_/schedules/adamw_warmup4e-cosine.py',
    '../_base_/default_runtime.py',
]

model = dict(
    backbone=dict(
        _delete_=True,
        type='MMPretrainViT',
        backbone=dict(
            type='mmpretrain.VisionTransformer',
            arch='b',
            img_size=224,
            patch_size=16,
            pre_norm=True,
            final_norm=False,
            norm_cfg=dict(type='LN', eps=1e-5),
            layer_cfgs=dict(act_cfg=dict(type='QuickGELU')),
            out_type='raw',
            with_cls_token=True,
        ),
        pretrained=None,
        precision='fp32',
    ),
    neck=dict(num_segments={{_base_.num_segments}}, num_local_frames={{_base_.num_local_frames}}),
    cls_head=dict(num_classes={{_base_.num_classes}}),
)
