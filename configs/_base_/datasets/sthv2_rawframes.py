# Something-Something V2 as JPEG frame folders, as the TDS-CLIP authors train
# and test it:
#   data/sthv2/rawframes/<video id>/img_00001.jpg, ...   (numbered from 1)
#   data/sthv2/sthv2_{train,val}_list_rawframes.txt   "<video id> <#frames> <label>"
# tools/data/extract_frames.py writes both from the .webm videos and the video
# lists of tools/data/build_sthv2_annotations.py (every frame, in order; the
# lists hold the decoded frame counts). Everything else (labels, flip map,
# sampling, augmentation, views) is sthv2_videos.py's.
_base_ = ['./sthv2_videos.py']

dataset_type = 'TDSRawframeDataset'
data_root = 'data/sthv2/rawframes'
ann_file_train = 'data/sthv2/sthv2_train_list_rawframes.txt'
ann_file_val = 'data/sthv2/sthv2_val_list_rawframes.txt'
ann_file_test = 'data/sthv2/sthv2_val_list_rawframes.txt'
filename_tmpl = 'img_{:05d}.jpg'


def _from_frames(pipeline):
    """A video pipeline of sthv2_videos.py reading frame folders instead: the
    steps before the sampler (opening the video) go, and the step after it
    (decoding the video) becomes TDSRawFrameDecode."""
    kinds = [step['type'] for step in pipeline]
    sampler = kinds.index('SampleTDSFrames')
    decoder = pipeline[sampler + 1]
    return [
        pipeline[sampler],
        dict(type='TDSRawFrameDecode', test_mode=decoder.get('test_mode', False)),
        *pipeline[sampler + 2 :],
    ]


train_pipeline = _from_frames(_base_.train_pipeline)
val_pipeline = _from_frames(_base_.val_pipeline)
test_pipeline = _from_frames(_base_.test_pipeline)


def _frame_dataset(ann_file, pipeline):
    return dict(
        type=dataset_type,
        ann_file=ann_file,
        data_prefix=dict(_delete_=True, img=data_root),
        filename_tmpl=filename_tmpl,
        start_index=1,
        pipeline=pipeline,
    )


train_dataloader = dict(dataset=_frame_dataset(ann_file_train, train_pipeline))
val_dataloader = dict(dataset=_frame_dataset(ann_file_val, val_pipeline))
test_dataloader = dict(dataset=_frame_dataset(ann_file_test, test_pipeline))
