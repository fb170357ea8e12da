# TDS-CLIP's SME-Adapter as an extra motion stem of a stock MMAction2 3D CNN
# (ResNet3dSlowOnly R50, MMAction2's own model base), Something-Something V2.
#
# Each of the 8 segments is a window of 5 consecutive frames
# (SampleTDSFrames). SlowOnly sees the 8 centre frames; the 4 frame
# differences of every window are embedded by the SME stem, and
# beta * SME is added to the output of SlowOnly's stem (after its max pool),
# as TDS-CLIP adds it to its side input. The SME's width and strides are read
# from that stem output. zero_init=True starts the SME at zero (exactly the
# pretrained SlowOnly); an insertion option, not TDS-CLIP's init.
_base_ = [
    'mmaction::_base_/models/slowonly_r50.py',
    '../_base_/datasets/sthv2_videos.py',
    '../_base_/schedules/adamw_warmup4e-cosine.py',
    '../_base_/default_runtime.py',
]

model = dict(
    backbone=dict(
        _delete_=True,
        type='MotionStemBackbone',
        backbone={{_base_.model.backbone}},
        after='maxpool',
        num_local_frames={{_base_.num_local_frames}},
        beta=0.5,
        zero_init=True,
    ),
    cls_head=dict(num_classes={{_base_.num_classes}}),
)

# The dataset base's opening, sampling (T windows of n frames) and decoding,
# then SlowOnly's augmentation (no repeated augmentation, no RandAugment).


def _decoded(pipeline):
    """The steps of a dataset-base pipeline up to its decoder, the step
    after SampleTDSFrames."""
    kinds = [step['type'] for step in pipeline]
    return pipeline[: kinds.index('SampleTDSFrames') + 2]


train_pipeline = [
    *_decoded(_base_.train_pipeline),
    dict(type='Resize', scale=(-1, 256)),
    dict(type='RandomResizedCrop'),
    dict(type='Resize', scale=(224, 224), keep_ratio=False),
    dict(type='Flip', flip_ratio=0.5, flip_label_map={{_base_.flip_label_map}}),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs'),
]
val_pipeline = [
    *_decoded(_base_.val_pipeline),
    dict(type='Resize', scale=(-1, 256)),
    dict(type='CenterCrop', crop_size=224),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs'),
]
# 2 clips (the base's test sampling) x 3 crops.
test_pipeline = [
    *_decoded(_base_.test_pipeline),
    dict(type='Resize', scale=(-1, 256)),
    dict(type='ThreeCrop', crop_size=256),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=val_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))

# MMAction2's SlowOnly (ImageNet-pretrained) recipe, shortened for SSv2.
train_cfg = dict(max_epochs=64, val_interval=4)
optim_wrapper = dict(
    _delete_=True,
    optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=1e-4),
    clip_grad=dict(max_norm=40, norm_type=2),
)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=4),
    dict(type='MultiStepLR', begin=4, by_epoch=True, milestones=[40, 56], gamma=0.1),
]
default_hooks = dict(checkpoint=dict(interval=4))
