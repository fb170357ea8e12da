# Kinetics-400 as videos:
#   data/kinetics400/videos_{train,val}/<youtube_id>_<start:06d>_<end:06d>.mp4
#   data/kinetics400/kinetics400_{train,val}_list_videos.txt  "<file> <label>"
# (tools/data/build_kinetics_annotations.py writes the lists from the
# official CSVs). T = 8 segments of n = 5 frames; configs for other T replace
# num_segments in the SampleTDSFrames entries.
# TDSVideoDataset: MMAction2's VideoDataset with a strict list reader (a malformed
# line is an error naming the file and the line; blank lines and tabs are fine).
dataset_type = 'TDSVideoDataset'
data_root = 'data/kinetics400/videos_train'
data_root_val = 'data/kinetics400/videos_val'
ann_file_train = 'data/kinetics400/kinetics400_train_list_videos.txt'
ann_file_val = 'data/kinetics400/kinetics400_val_list_videos.txt'
ann_file_test = 'data/kinetics400/kinetics400_val_list_videos.txt'
num_classes = 400
num_segments = 8
num_local_frames = 5

# Train: one clip per video, decoded once and augmented twice
# independently (repeated augmentation), with the authors' PIL pixels: short
# side 256 (PIL bicubic, antialiased; only the crop's pixels are computed),
# random-sized crop (area 0.08-1, aspect 3/4-4/3 drawn uniformly, sides
# swapped with p 0.5) resized to 224 (PIL bilinear), flip, grayscale p 0.2;
# no RandAugment.
train_pipeline = [
    dict(type='TDSPyAVInit'),
    dict(
        type='SampleTDSFrames',
        num_segments=num_segments,
        num_local_frames=num_local_frames,
        protocol='kinetics',
    ),
    dict(type='TDSPyAVDecode'),
    dict(
        type='RepeatAugment',
        num_repeats=2,
        transforms=[
            dict(type='PillowRandomSizedCrop', size=224, short_side=256),
            dict(type='Flip', flip_ratio=0.5),
            dict(type='ClipRandomGrayscale', prob=0.2),
        ],
    ),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs'),
]
# Validation during training: one view, centre 224 crop (torchvision's
# rounding) after the short side is resized to 256 (PIL bicubic).
val_pipeline = [
    dict(type='TDSPyAVInit', test_mode=True),
    dict(
        type='SampleTDSFrames',
        num_segments=num_segments,
        num_local_frames=num_local_frames,
        num_clips=1,
        protocol='kinetics',
        test_mode=True,
    ),
    dict(type='TDSPyAVDecode', test_mode=True),
    dict(type='PillowResize', short_side=256),
    dict(type='TorchvisionCenterCrop', crop_size=224),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs'),
]
# Test: 4 clips x 3 crops (the authors' full-resolution three-crop: 224
# squares at x = 0, 2q, 4q with q = (W - 224) // 4, short side 256),
# softmax averaged over the 12 views.
test_pipeline = [
    dict(type='TDSPyAVInit', test_mode=True),
    dict(
        type='SampleTDSFrames',
        num_segments=num_segments,
        num_local_frames=num_local_frames,
        num_clips=4,
        protocol='kinetics',
        test_mode=True,
    ),
    dict(type='TDSPyAVDecode', test_mode=True),
    dict(type='PillowResize', short_side=256),
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
        data_prefix=dict(video=data_root_val),
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
        data_prefix=dict(video=data_root_val),
        pipeline=test_pipeline,
        test_mode=True,
    ),
)

val_evaluator = dict(type='AccMetric')
test_evaluator = dict(type='AccMetric')
