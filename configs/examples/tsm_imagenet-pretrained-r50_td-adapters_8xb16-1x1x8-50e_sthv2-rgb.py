# TD-Adapters inserted into a stock MMAction2 TSM-R50 (ResNetTSM), from this
# config alone: one adapter after the second conv of every residual block
# (layer1..layer4), on the (N*T, C, H, W) per-frame feature maps.
# identity_init=True zeroes each adapter's last BatchNorm, so the network
# starts exactly as the ImageNet-pretrained TSM and the adapters grow from
# there (an insertion option; TDS-CLIP's own side network does not use it).
# Model from MMAction2's own base (mmaction::), SSv2 data from ours, and
# MMAction2's TSM recipe (1x1x8 sampling, SGD, 50 epochs).
_base_ = [
    'mmaction::_base_/models/tsm_r50.py',
    '../_base_/datasets/sthv2_videos.py',
    '../_base_/schedules/adamw_warmup4e-cosine.py',
    '../_base_/default_runtime.py',
]

model = dict(
    backbone=dict(
        _delete_=True,
        type='AdapterInsertedBackbone',
        backbone=dict(
            type='ResNetTSM',
            pretrained='torchvision://resnet50',
            depth=50,
            num_segments={{_base_.num_segments}},
            norm_eval=False,
            shift_div=8,
        ),
        # channels and num_segments are read from each conv2 and from
        # ResNetTSM.num_segments.
        adapters=[
            dict(
                type='TDAdapter',
                after='layer*.*.conv2',
                layout='NCHW-frames',
                reduction=16,
                mode='pool',
                kernel_size=3,
                identity_init=True,
            )
        ],
    ),
    cls_head=dict(num_segments={{_base_.num_segments}}, num_classes={{_base_.num_classes}}),
)

# TSN-style sampling: T = num_segments single frames (stock SampleFrames),
# MMAction2's TSM augmentation; opened and decoded as the dataset base
# decodes SSv2.
num_segments = {{_base_.num_segments}}


def _decoded(pipeline, sampler):
    """The steps of a dataset-base pipeline up to its decoder (the step
    after SampleTDSFrames), with ``sampler`` in place of SampleTDSFrames."""
    kinds = [step['type'] for step in pipeline]
    at = kinds.index('SampleTDSFrames')
    return [*pipeline[:at], sampler, pipeline[at + 1]]


train_pipeline = [
    *_decoded(
        _base_.train_pipeline,
        dict(type='SampleFrames', clip_len=1, frame_interval=1, num_clips=num_segments),
    ),
    dict(type='Resize', scale=(-1, 256)),
    dict(
        type='MultiScaleCrop',
        input_size=224,
        scales=(1, 0.875, 0.75, 0.66),
        random_crop=False,
        max_wh_scale_gap=1,
        num_fixed_crops=13,
    ),
    dict(type='Resize', scale=(224, 224), keep_ratio=False),
    dict(type='Flip', flip_ratio=0.5, flip_label_map={{_base_.flip_label_map}}),
    dict(type='FormatShape', input_format='NCHW'),
    dict(type='PackActionInputs'),
]
val_pipeline = [
    *_decoded(
        _base_.val_pipeline,
        dict(
            type='SampleFrames',
            clip_len=1,
            frame_interval=1,
            num_clips=num_segments,
            test_mode=True,
        ),
    ),
    dict(type='Resize', scale=(-1, 256)),
    dict(type='CenterCrop', crop_size=224),
    dict(type='FormatShape', input_format='NCHW'),
    dict(type='PackActionInputs'),
]
# 2 clips (twice_sample) x 3 crops.
test_pipeline = [
    *_decoded(
        _base_.test_pipeline,
        dict(
            type='SampleFrames',
            clip_len=1,
            frame_interval=1,
            num_clips=num_segments,
            test_mode=True,
            twice_sample=True,
        ),
    ),
    dict(type='Resize', scale=(-1, 256)),
    dict(type='ThreeCrop', crop_size=256),
    dict(type='FormatShape', input_format='NCHW'),
    dict(type='PackActionInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=val_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))

# MMAction2's TSM recipe; the constructor gives every conv, BatchNorm and
# Linear of the adapters the same policy as the backbone's.
train_cfg = dict(max_epochs=50)
optim_wrapper = dict(
    _delete_=True,
    constructor='TSMOptimWrapperConstructor',
    paramwise_cfg=dict(fc_lr5=True),
    optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=0.0005),
    clip_grad=dict(max_norm=20, norm_type=2),
)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=5),
    dict(type='MultiStepLR', begin=0, by_epoch=True, milestones=[25, 45], gamma=0.1),
]
default_hooks = dict(checkpoint=dict(interval=3))
