"""Annotation lists: malformed lines are errors naming the file, the line number and the line."""

import importlib.util
import sys
from pathlib import Path

import pytest
from mmaction.datasets import RawframeDataset, VideoDataset
from mmaction.registry import DATASETS
from mmengine.config import Config

from mmaction_tdsclip.datasets.annotation_lists import (
    AnnotationError,
    TDSRawframeDataset,
    TDSVideoDataset,
    dataset_has_labels,
    read_annotation_list,
)

ROOT = Path(__file__).resolve().parents[2]


def _write(tmp_path, text, name='list.txt'):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def _video(path, test_mode=False, **kwargs):
    return TDSVideoDataset(
        path, pipeline=[], data_prefix=dict(video='/v'), test_mode=test_mode, **kwargs
    )


def test_video_list_reads_like_the_stock_dataset(tmp_path):
    clean = _write(tmp_path, 'a.mp4 1\nb/c.webm 0\nd.mkv 2\n', 'clean.txt')
    # Blank lines (a trailing one too), trailing whitespace, tabs, several spaces.
    messy = _write(tmp_path, '\na.mp4\t1  \n\nb/c.webm   0\nd.mkv 2\t\n\n\n', 'messy.txt')
    stock = VideoDataset(clean, pipeline=[], data_prefix=dict(video='/v'))
    expected = [stock.get_data_info(i) for i in range(len(stock))]
    ours = _video(messy)
    got = [ours.get_data_info(i) for i in range(len(ours))]
    for item in got + expected:
        item.pop('sample_idx')
    assert got == expected and len(got) == 3


@pytest.mark.parametrize('with_offset', [False, True])
def test_rawframe_list_reads_like_the_stock_dataset(tmp_path, with_offset):
    offset = '5 ' if with_offset else ''
    clean = _write(tmp_path, f'v1 {offset}30 3\nv2 {offset}12 0\n', 'clean.txt')
    messy = _write(tmp_path, f'v1\t{offset}30\t3\n\nv2  {offset}12 0 \n', 'messy.txt')
    kwargs = dict(pipeline=[], data_prefix=dict(img='/f'), with_offset=with_offset)
    stock = RawframeDataset(clean, **kwargs)
    ours = TDSRawframeDataset(messy, **kwargs)
    assert ours.load_data_list() == stock.load_data_list()


@pytest.mark.parametrize(
    'text, line_no, line, problem',
    [
        ('a.mp4 0\nb.mp4 one\n', 2, 'b.mp4 one', "label 'one' is not an integer"),
        ('a.mp4 0\nmy video.mp4 1\n', 2, 'my video.mp4 1', 'a path with a space'),
        ('my video.mp4\n', 1, 'my video.mp4', "label 'video.mp4' is not an integer (a path"),
        ('a.mp4 0\nb.mp4\nc.mp4 2\n', 2, 'b.mp4', 'no label, unlike line 1'),
        ('a.mp4 0\nb.mp4 -1\n', 2, 'b.mp4 -1', 'label -1 is negative'),
        ('a.mp4 0\nb.mp4 1.5\n', 2, 'b.mp4 1.5', "label '1.5' is not an integer"),
    ],
)
def test_video_list_errors_name_the_line(tmp_path, text, line_no, line, problem):
    path = _write(tmp_path, text)
    with pytest.raises(AnnotationError) as info:
        _video(path)
    message = str(info.value)
    assert f'{path}, line {line_no}: ' in message
    assert f'line: {line!r}' in message and problem in message
    assert '<video file> <label>' in message


@pytest.mark.parametrize(
    'text, line_no, problem',
    [
        ('v1 30 3\nv2 x 1\n', 2, "total_frames 'x' is not an integer"),
        ('v1 30 3\nv2 0 1\n', 2, 'num_frames 0 must be at least 1'),
        ('v1 30 3\nv2\n', 2, 'fewer than the 2 every line needs'),
        ('v1 30 3\nmy v2 12 1\n', 2, 'a path with a space'),
        ('v1 30\nv2 12 1\nv3 9 0\n', 1, 'no label, unlike line 2'),
    ],
)
def test_rawframe_list_errors_name_the_line(tmp_path, text, line_no, problem):
    path = _write(tmp_path, text)
    with pytest.raises(AnnotationError) as info:
        TDSRawframeDataset(path, pipeline=[])
    assert f'{path}, line {line_no}: ' in str(info.value) and problem in str(info.value)


@pytest.mark.parametrize('text', ['', '\n\n  \n'])
def test_empty_list(tmp_path, text):
    path = _write(tmp_path, text)
    with pytest.raises(AnnotationError, match='the annotation list is empty'):
        _video(path, test_mode=True)


def test_list_without_labels_serves_prediction_only(tmp_path):
    path = _write(tmp_path, 'a.mp4\nb.mp4\n')
    dataset = _video(path, test_mode=True)
    assert [dataset.get_data_info(i)['label'] for i in range(2)] == [-1, -1]
    with pytest.raises(AnnotationError, match='has no labels .* training needs'):
        _video(path, test_mode=False)
    frames = _write(tmp_path, 'v1 30\nv2 12\n', 'frames.txt')
    assert TDSRawframeDataset(frames, pipeline=[], test_mode=True).get_data_info(1)['label'] == -1


def test_multi_class_and_custom_delimiter(tmp_path):
    path = _write(tmp_path, 'a.mp4 1 3\nb.mp4 0\n')
    dataset = _video(path, multi_class=True, num_classes=4)
    assert dataset.load_data_list()[0]['label'] == [1, 3]
    path = _write(tmp_path, 'my video.mp4,2\n', 'comma.txt')
    assert read_annotation_list(path, 'video', delimiter=',')[0]['path'] == 'my video.mp4'


def test_shipped_configs_use_the_strict_datasets():
    for name in ('sthv1_rawframes', 'sthv2_videos', 'sthv2_rawframes', 'kinetics400_videos'):
        cfg = Config.fromfile(str(ROOT / 'configs' / '_base_' / 'datasets' / f'{name}.py'))
        for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
            kind = cfg[loader].dataset.type
            assert kind in ('TDSVideoDataset', 'TDSRawframeDataset')
            assert DATASETS.get(kind) is not None


def _load_test_tool():
    spec = importlib.util.spec_from_file_location('test_tool', ROOT / 'tools' / 'test.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize('labelled', [True, False])
def test_dump_keeps_only_the_predictions_for_a_list_without_labels(tmp_path, labelled, monkeypatch):
    ann = _write(tmp_path, 'a.mp4 1\n' if labelled else 'a.mp4\n')
    cfg = Config(
        dict(
            test_dataloader=dict(dataset=dict(type='TDSVideoDataset', ann_file=ann)),
            test_evaluator=dict(type='AccMetric'),
        )
    )
    tool = _load_test_tool()
    argv = ['test.py', 'config.py', 'ckpt.pth', '--work-dir', str(tmp_path), '--dump', 'p.pkl']
    monkeypatch.setattr(sys, 'argv', argv)
    cfg = tool.merge_args(cfg, tool.parse_args())
    kinds = [evaluator['type'] for evaluator in cfg.test_evaluator]
    assert kinds == (['AccMetric', 'DumpResults'] if labelled else ['DumpResults'])
    assert dataset_has_labels(cfg.test_dataloader.dataset) is labelled
