# Something-Something V2 as the official VP9 .webm videos:
#   data/sthv2/videos/<video id>.webm
#   data/sthv2/sthv2_{train,val}_list_videos.txt   "<video id>.webm <label>"
# (tools/data/build_sthv2_annotations.py writes the lists from the official
# JSONs). Decoded exactly with PyAV (frames named by their timestamps; decord 0.6
# mis-seeks VP9, and TDSDecordInit hands VP8/VP9 to the same PyAV path). The
# authors read SSv2 as JPEG frames: see sthv2_rawframes.py.
# T = 8 segments of n = 5 frames; configs for other T replace num_segments
# in the SampleTDSFrames entries.
# TDSVideoDataset: MMAction2's VideoDataset with a strict list reader (a malformed
# line is an error naming the file and the line; blank lines and tabs are fine).
dataset_type = 'TDSVideoDataset'
data_root = 'data/sthv2/videos'
ann_file_train = 'data/sthv2/sthv2_train_list_videos.txt'
ann_file_val = 'data/sthv2/sthv2_val_list_videos.txt'
ann_file_test = 'data/sthv2/sthv2_val_list_videos.txt'
num_classes = 174
# The class names, line i naming label i (written with the lists). The
# training set names them in metainfo.classes, so that the config check
# can verify flip_label_map against them.
label_map = 'data/sthv2/sthv2_label_map.txt'
num_segments = 8
num_local_frames = 5

# Classes that swap under a horizontal flip (something-something-v2-
# labels.json): 86/87 "Pulling something from left to right / right to
# left", 93/94 "Pushing something from left to right / right to left",
# 166/167 "Turning the camera left / right while filming something".
flip_label_map = {86: 87, 87: 86, 93: 94, 94: 93, 166: 167, 167: 166}

# Train: one clip per video, decoded once and augmented twice
# independently (repeated augmentation), with the authors' PIL pixels:
# RandAugment m7 n4 mstd 0.5 with the same ops on every frame (bicubic, fill
# 128), resize to exactly 256 x 320 (H x W, PIL bicubic, antialiased),
# random-sized crop (area 0.08-1, aspect 3/4-4/3 drawn uniformly, sides
# swapped with p 0.5) resized to 224 (PIL bilinear), flip with label swap.
# PillowRandomSizedCrop runs the first three in that order, computing only
# the pixels its crop reads.
train_pipeline = [
    dict(type='TDSPyAVInit'),
    dict(
        type='SampleTDSFrames',
        num_segments=num_segments,
        num_local_frames=num_local_frames,
        protocol='sth',
    ),
    dict(type='TDSPyAVDecode'),
    dict(
        type='RepeatAugment',
        num_repeats=2,
        transforms=[
            dict(
                type='PillowRandomSizedCrop',
                size=224,
                scale=(320, 256),
                rand_augment=dict(config_str='rand-m7-n4-mstd0.5-inc1'),
            ),
            dict(type='Flip', flip_ratio=0.5, flip_label_map=flip_label_map),
        ],
    ),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs'),
]
# Validation during training: one view, centre 224 crop (torchvision's
# rounding) of the 256 x 320 frames (PIL bicubic).
val_pipeline = [
    dict(type='TDSPyAVInit', test_mode=True),
    dict(
        type='SampleTDSFrames',
        num_segments=num_segments,
        num_local_frames=num_local_frames,
        num_clips=1,
        protocol='sth',
        test_mode=True,
    ),
    dict(type='TDSPyAVDecode', test_mode=True),
    dict(type='PillowResize', scale=(320, 256)),
    dict(type='TorchvisionCenterCrop', crop_size=224),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs'),
]
# Test: 2 clips x 3 crops (left, centre, right 224 squares of the 256 x 320
# frames, the authors' full-resolution three-crop), softmax averaged over
# the 6 views by the head.
test_pipeline = [
    dict(type='TDSPyAVInit', test_mode=True),
    dict(
        type='SampleTDSFrames',
        num_segments=num_segments,
        num_local_frames=num_local_frames,
        num_clips=2,
        protocol='sth',
        test_mode=True,
    ),
    dict(type='TDSPyAVDecode', test_mode=True),
    dict(type='PillowResize', scale=(320, 256)),
    dict(type='FullResThreeCrop', crop_size=224),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs'),
]

# 16 videos per GPU; each yields 2 views, so 32 clips go through the model.
train_dataloader = dict(
    batch_size=16,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        ann_file=ann_file_train,
        metainfo=dict(classes=label_map),
        data_prefix=dict(video=data_root),
        pipeline=train_pipeline,
    ),
)
val_dataloader = dict(
    batch_size=16,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        ann_file=ann_file_val,
        data_prefix=dict(video=data_root),
        pipeline=val_pipeline,
        test_mode=True,
    ),
)
test_dataloader = dict(
    batch_size=1,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        ann_file=ann_file_test,
        data_prefix=dict(video=data_root),
        pipeline=test_pipeline,
        test_mode=True,
    ),
)

val_evaluator = dict(type='AccMetric')
test_evaluator = dict(type='AccMetric')
