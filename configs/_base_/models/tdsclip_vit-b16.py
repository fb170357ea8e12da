# TDS-CLIP with a frozen CLIP ViT-B/16 (docs/model.md sections 2-7): side width 320
# (5 heads), T = 8 segments of n = 5 frames. Dataset configs set
# cls_head.num_classes (and neck.num_segments for other T).
#
# The CLIP weights are loaded when the model is built: put OpenAI's
# ViT-B-16.pt (https://openaipublic.azureedge.net/clip/models/
# 5806e77cd80f8b59890b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f/ViT-B-16.pt)
# at the path below, or override model.backbone.pretrained.
model = dict(
    type='TDSCLIPRecognizer',
    backbone=dict(
        type='FrozenCLIPViT',
        arch='ViT-B/16',
        pretrained='checkpoints/clip/ViT-B-16.pt',
        img_size=224,
    ),
    neck=dict(
        type='TDSSideNetwork',
        num_segments=8,
        num_local_frames=5,
        side_dim=320,
        alpha=1.0,
        beta=0.5,
        use_td=True,
        use_sme=True,
        td_mode='pool',
        td_kernel_size=3,
    ),
    cls_head=dict(
        type='TDSHead',
        num_classes=174,
        in_channels=320,
        dropout_ratio=0.0,
        label_smooth_eps=0.1,
        average_clips='prob',
    ),
    data_preprocessor=dict(
        type='ActionDataPreprocessor',
        mean=[122.770938, 116.7460125, 104.09373615],
        std=[68.5005327, 66.6321579, 70.32316305],
        format_shape='NCTHW',
    ),
)
