# The embedded time-reversal demo dataset (tools/data/make_reversal_dataset.py
# renders it; tools/main_job.py points the configs at its folder):
#   data/reversal_demo/{train,val,test}.txt   "<file> <label>"
#   data/reversal_demo/<file>.mp4             64 x 64, 33 frames
# 12 classes in 6 time-reversed pairs. T = 8 segments of n = 5 frames on
# 32 x 32 crops, for the tiny backbone of ../models/tdsclip_tiny-vit.py.
dataset_type = 'VideoDataset'
data_root = 'data/reversal_demo'
num_classes = 12
num_segments = 8  # T: frames the frozen ViT sees
num_local_frames = 5  # n: window of consecutive frames per segment
img_size = 32
resize = 36  # frames (64 x 64 on disk) are resized to resize x resize

# T windows of n consecutive frames, segment-major (frame j of segment t at
# t * n + j). The demo clips have 33 = 4 * T + 1 frames: with the 'sth' test
# offsets, the 3 test clips of a video and of its time reversal then hold the
# same frames, so a frame-order-blind model scores exactly chance within pairs.
# No horizontal flip: left/right and clockwise/anticlockwise are classes.
train_pipeline = [
    dict(type='TDSPyAVInit'),
    dict(
        type='SampleTDSFrames',
        num_segments=num_segments,
        num_local_frames=num_local_frames,
        protocol='sth',
    ),
    dict(type='TDSPyAVDecode'),
    dict(type='Resize', scale=(resize, resize), keep_ratio=False),
    # Repeated augmentation (as in the TDS-CLIP recipe): each decoded clip
    # gives two independently cropped views, which halves decoding per view.
    dict(type='RepeatAugment', transforms=[dict(type='RandomCrop', size=img_size)], num_repeats=2),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs'),
]
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
    dict(type='Resize', scale=(resize, resize), keep_ratio=False),
    dict(type='CenterCrop', crop_size=img_size),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs'),
]
# 3 clips x 3 crops: a centre band of full width, then left / centre / right
# squares (ThreeCrop needs the crop to equal the short side).
test_pipeline = [
    dict(type='TDSPyAVInit', test_mode=True),
    dict(
        type='SampleTDSFrames',
        num_segments=num_segments,
        num_local_frames=num_local_frames,
        num_clips=3,
        protocol='sth',
        test_mode=True,
    ),
    dict(type='TDSPyAVDecode', test_mode=True),
    dict(type='Resize', scale=(resize, resize), keep_ratio=False),
    dict(type='CenterCrop', crop_size=(resize, img_size)),
    dict(type='ThreeCrop', crop_size=img_size),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs'),
]


def _dataloader(split, pipeline, batch_size, **dataset_args):
    """The loader of data_root/<split>.txt; shuffled for training only."""
    return dict(
        batch_size=batch_size,
        num_workers=2,
        persistent_workers=False,
        sampler=dict(type='DefaultSampler', shuffle=split == 'train'),
        dataset=dict(
            type=dataset_type,
            ann_file=f'{data_root}/{split}.txt',
            data_prefix=dict(video=data_root),
            pipeline=pipeline,
            **dataset_args,
        ),
    )


train_dataloader = _dataloader('train', train_pipeline, batch_size=16)  # x 2 views
val_dataloader = _dataloader('val', val_pipeline, batch_size=32, test_mode=True)
test_dataloader = _dataloader('test', test_pipeline, batch_size=8, test_mode=True)

val_evaluator = dict(type='AccMetric')
test_evaluator = dict(type='AccMetric')
