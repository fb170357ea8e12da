# TD-Adapters inserted into a stock MMAction2 TimeSformer (divided
# space-time attention), from this config alone: one adapter after the
# temporal attention of every layer, on its (B, 1 + N*T, C) tokens (class
# token first, then patch-major: token p*T + t, token_order='nt'). The class
# token passes through; the patch tokens are seen as (B, C, T, h, w), and the
# spatial attention that follows carries the result into the class token
# (after a whole last layer an adapter would be wasted: TimeSformer keeps
# only the class token). identity_init=True starts from the pretrained
# TimeSformer exactly. MMAction2 ships no TimeSformer model base, so the
# model is stated here; K400 data from our base, MMAction2's TimeSformer
# recipe (8x32x1 sampling, SGD, 15 epochs, 8 GPUs x 8 videos).
_base_ = [
    '../_base_/datasets/kinetics400_videos.py',
    '../_base_/schedules/adamw_warmup4e-cosine.py',
    '../_base_/default_runtime.py',
]

clip_len = 8
img_size = 224

model = dict(
    type='Recognizer3D',
    backbone=dict(
        type='AdapterInsertedBackbone',
        backbone=dict(
            type='TimeSformer',
            pretrained='https://download.openmmlab.com/mmaction/recognition/timesformer/'
            'vit_base_patch16_224.pth',
            num_frames=clip_len,
            img_size=img_size,
            patch_size=16,
            embed_dims=768,
            in_channels=3,
            dropout_ratio=0.0,
            transformer_layers=None,
            attention_type='divided_space_time',
            norm_cfg=dict(type='LN', eps=1e-6),
        ),
        # channels (embed_dims) and num_segments (TimeSformer.num_frames) are read from the
        # backbone.
        adapters=[
            dict(
                type='TDAdapter',
                after='transformer_layers.layers.*.attentions.0',
                layout='video-tokens',
                token_order='nt',
                num_extra_tokens=1,
                reduction=16,
                identity_init=True,
            )
        ],
    ),
    cls_head=dict(
        type='TimeSformerHead',
        num_classes={{_base_.num_classes}},
        in_channels=768,
        average_clips='prob',
    ),
    data_preprocessor=dict(
        type='ActionDataPreprocessor',
        mean=[127.5, 127.5, 127.5],
        std=[127.5, 127.5, 127.5],
        format_shape='NCTHW',
    ),
)

# Stock SampleFrames (8 frames, 32 apart); decoded as the dataset base
# decodes K400.
train_pipeline = [
    dict(type='TDSPyAVInit'),
    dict(type='SampleFrames', clip_len=clip_len, frame_interval=32, num_clips=1),
    dict(type='TDSPyAVDecode'),
    dict(type='RandomRescale', scale_range=(256, 320)),
    dict(type='RandomCrop', size=img_size),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs'),
]
val_pipeline = [
    dict(type='TDSPyAVInit', test_mode=True),
    dict(type='SampleFrames', clip_len=clip_len, frame_interval=32, num_clips=1, test_mode=True),
    dict(type='TDSPyAVDecode', test_mode=True),
    dict(type='Resize', scale=(-1, 256)),
    dict(type='CenterCrop', crop_size=img_size),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs'),
]
# 1 clip x 3 crops.
test_pipeline = [
    dict(type='TDSPyAVInit', test_mode=True),
    dict(type='SampleFrames', clip_len=clip_len, frame_interval=32, num_clips=1, test_mode=True),
    dict(type='TDSPyAVDecode', test_mode=True),
    dict(type='Resize', scale=(-1, img_size)),
    dict(type='ThreeCrop', crop_size=img_size),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs'),
]
train_dataloader = dict(batch_size=8, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=8, dataset=dict(pipeline=val_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))

# MMAction2's TimeSformer recipe (the keys are substrings, so they still
# match under the wrapper's extra "backbone.").
train_cfg = dict(max_epochs=15)
optim_wrapper = dict(
    _delete_=True,
    optimizer=dict(type='SGD', lr=0.005, momentum=0.9, weight_decay=1e-4, nesterov=True),
    paramwise_cfg=dict(
        custom_keys={
            '.backbone.cls_token': dict(decay_mult=0.0),
            '.backbone.pos_embed': dict(decay_mult=0.0),
            '.backbone.time_embed': dict(decay_mult=0.0),
        }
    ),
    clip_grad=dict(max_norm=40, norm_type=2),
)
param_scheduler = [dict(type='MultiStepLR', begin=0, by_epoch=True, milestones=[5, 10], gamma=0.1)]
default_hooks = dict(checkpoint=dict(interval=5))
auto_scale_lr = dict(base_batch_size=64)
