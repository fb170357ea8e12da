# Something-Something V1 as raw frames (the official JPEG release):
#   data/sthv1/rawframes/<video id>/{:05}.jpg   (numbered from 00001.jpg)
#   data/sthv1/sthv1_{train,val}_list_rawframes.txt
#       "<video id> <#frames> <label>"
# (tools/data/build_sthv1_annotations.py writes the lists from the official
# CSVs). T = 8 segments of n = 5 frames; configs for other T replace
# num_segments in the SampleTDSFrames entries.
# TDSRawframeDataset: MMAction2's RawframeDataset with a strict list reader (a malformed
# line is an error naming the file and the line; blank lines and tabs are fine).
dataset_type = 'TDSRawframeDataset'
data_root = 'data/sthv1/rawframes'
ann_file_train = 'data/sthv1/sthv1_train_list_rawframes.txt'
ann_file_val = 'data/sthv1/sthv1_val_list_rawframes.txt'
ann_file_test = 'data/sthv1/sthv1_val_list_rawframes.txt'
num_classes = 174
# The class names, line i naming label i (written with the lists). The
# training set names them in metainfo.classes, so that the config check
# can verify flip_label_map against them.
label_map = 'data/sthv1/sthv1_label_map.txt'
num_segments = 8
num_local_frames = 5

# Classes that swap under a horizontal flip, indexed by line of
# something-something-v1-labels.csv: the map of MMAction2's SSv1 recipes
# (TSM / TRN / TANet), the three left/right pairs ("Pulling something from
# left to right" / "... right to left", the same for "Pushing", and
# "Turning the camera left / right while filming something").
# tools/data/build_sthv1_annotations.py prints the map that fits the lists it
# writes; with --label-order authors (SSv2's class order, that of the
# authors' SSv1 checkpoints) it is SSv2's {86: 87, 93: 94, 166: 167}. The
# config check refuses a map that does not fit label_map.
flip_label_map = {2: 4, 4: 2, 30: 41, 41: 30, 52: 66, 66: 52}

# Train: one clip per video, decoded once and augmented twice
# independently (repeated augmentation), with the authors' PIL pixels:
# RandAugment m7 n4 mstd 0.5 with the same ops on every frame (bicubic, fill
# 128), resize to exactly 256 x 320 (H x W, PIL bicubic, antialiased),
# random-sized crop (area 0.08-1, aspect 3/4-4/3 drawn uniformly, sides
# swapped with p 0.5) resized to 224 (PIL bilinear), flip with label swap.
# PillowRandomSizedCrop runs the first three in that order, computing only
# the pixels its crop reads.
train_pipeline = [
    dict(
        type='SampleTDSFrames',
        num_segments=num_segments,
        num_local_frames=num_local_frames,
        protocol='sth',
    ),
    dict(type='TDSRawFrameDecode'),
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
    dict(
        type='SampleTDSFrames',
        num_segments=num_segments,
        num_local_frames=num_local_frames,
        num_clips=1,
        protocol='sth',
        test_mode=True,
    ),
    dict(type='TDSRawFrameDecode', test_mode=True),
    dict(type='PillowResize', scale=(320, 256)),
    dict(type='TorchvisionCenterCrop', crop_size=224),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs'),
]
# Test: 2 clips x 3 crops (left, centre, right 224 squares of the 256 x 320
# frames, the authors' full-resolution three-crop), softmax averaged over
# the 6 views by the head.
test_pipeline = [
    dict(
        type='SampleTDSFrames',
        num_segments=num_segments,
        num_local_frames=num_local_frames,
        num_clips=2,
        protocol='sth',
        test_mode=True,
    ),
    dict(type='TDSRawFrameDecode', test_mode=True),
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
        data_prefix=dict(img=data_root),
        filename_tmpl='{:05}.jpg',
        start_index=1,
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
        data_prefix=dict(img=data_root),
        filename_tmpl='{:05}.jpg',
        start_index=1,
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
        data_prefix=dict(img=data_root),
        filename_tmpl='{:05}.jpg',
        start_index=1,
        pipeline=test_pipeline,
        test_mode=True,
    ),
)

val_evaluator = dict(type='AccMetric')
test_evaluator = dict(type='AccMetric')
