"""Read MMAction2 annotation lists strictly, with errors that name the line.

MMAction2's list formats:

- video lists (``VideoDataset``): ``<file> <label>`` per line;
- raw-frame lists (``RawframeDataset``): ``<folder> <num_frames> <label>``,
  or ``<folder> <offset> <num_frames> <label>`` with ``with_offset=True``;
- with ``multi_class=True`` the label is one or more labels;
- without the label (MMAction2's inference format, for prediction only).

The stock readers turn mistakes into messages that name neither file nor
line ("invalid literal for int()", "too many values to unpack", "need at
least one array to concatenate"), or into label -1 (a blank line, a
tab-separated line, a line without label). The functions here accept what is
unambiguous (blank lines, trailing whitespace, tabs or several spaces between
fields) and refuse the rest with :class:`AnnotationError`: the file, the line
number, the line, and what is wrong.

:class:`TDSVideoDataset` and :class:`TDSRawframeDataset` are the stock
datasets reading their lists this way; the shipped configs use them.
"""

import os.path as osp
from typing import Dict, List, Optional

from mmaction.datasets import RawframeDataset, VideoDataset
from mmaction.registry import DATASETS
from mmengine.fileio import get_text

# Dataset types whose annotation lists :func:`read_annotation_list` reads.
VIDEO_LIST_TYPES = ('VideoDataset', 'TDSVideoDataset')
RAWFRAME_LIST_TYPES = ('RawframeDataset', 'TDSRawframeDataset')


class AnnotationError(ValueError):
    """An annotation list that cannot be read as its dataset needs it."""


def _columns(kind: str, with_offset: bool, multi_class: bool) -> str:
    label = '<label> [<label> ...]' if multi_class else '<label>'
    if kind == 'video':
        return f'<video file> {label}'
    if with_offset:
        return f'<frame folder> <offset> <num_frames> {label}'
    return f'<frame folder> <num_frames> {label}'


def read_annotation_list(
    path: str,
    kind: str,
    with_offset: bool = False,
    multi_class: bool = False,
    delimiter: Optional[str] = None,
) -> List[Dict]:
    """Parse an MMAction2 annotation list, refusing malformed lines.

    Args:
        path: The list file.
        kind: ``'video'`` (``VideoDataset``) or ``'rawframes'``
            (``RawframeDataset``).
        with_offset: Raw-frame lines carry an offset before the frame count.
        multi_class: Lines may carry several labels.
        delimiter: Field separator; None (default) splits on any run of
            spaces and tabs.

    Returns:
        One dict per non-blank line: ``line`` (its number, from 1),
        ``path`` (file or folder), ``total_frames`` and ``offset`` for
        raw frames, and ``labels``: a list of ints, empty for a line
        without label. Either every line has labels or none has.

    Raises:
        AnnotationError: naming the file, the line number and the line.
    """
    if kind not in ('video', 'rawframes'):
        raise ValueError(f"kind={kind!r}; use 'video' or 'rawframes'")
    expected = _columns(kind, with_offset, multi_class)
    num_fixed = 1 if kind == 'video' else (3 if with_offset else 2)
    text = get_text(path, encoding='utf-8-sig')  # a BOM is not part of the first path

    def fail(line_no: int, raw: str, problem: str) -> None:
        raise AnnotationError(
            f'{path}, line {line_no}: {problem}\n  line: {raw!r}\n'
            f'  expected "{expected}" per line (fields separated by spaces or tabs; '
            'the label may be left out on every line, for prediction only).'
        )

    entries, raw_lines = [], {}
    for line_no, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        raw_lines[line_no] = raw

        fields = line.split(delimiter) if delimiter not in (None, ' ', '\t') else line.split()
        fields = [f.strip() for f in fields]
        if len(fields) < num_fixed:
            fail(
                line_no, raw, f'{len(fields)} field(s), fewer than the {num_fixed} every line needs'
            )
        if len(fields) > num_fixed + 1 and not multi_class:
            fail(
                line_no,
                raw,
                f'{len(fields)} fields, expected {num_fixed + 1}: a path with a space, or '
                'several labels in a list that is not multi_class? Paths in MMAction2 lists '
                'cannot contain spaces: rename the file or folder',
            )
        entry = dict(line=line_no, path=fields[0])
        numbers = fields[1:num_fixed]
        for name, value in zip(
            ('offset', 'total_frames') if with_offset else ('total_frames',), numbers
        ):
            if not value.lstrip('-').isdigit():
                fail(line_no, raw, f'{name} {value!r} is not an integer')
            entry[name] = int(value)
        if 'total_frames' in entry and entry['total_frames'] < 1:
            fail(line_no, raw, f'num_frames {entry["total_frames"]} must be at least 1')
        if entry.get('offset', 0) < 0:
            fail(line_no, raw, f'offset {entry["offset"]} is negative')
        labels = []
        for value in fields[num_fixed:]:
            if not value.lstrip('-').isdigit():
                looks_like_path = any(c in value for c in './\\')
                hint = ' (a path with a space?)' if looks_like_path else ''
                fail(line_no, raw, f'label {value!r} is not an integer{hint}')
            if int(value) < 0:
                fail(line_no, raw, f'label {value} is negative; labels run from 0')
            labels.append(int(value))
        entry['labels'] = labels
        entries.append(entry)
    labelled = [entry['line'] for entry in entries if entry['labels']]
    unlabelled = [entry['line'] for entry in entries if not entry['labels']]
    if labelled and unlabelled:
        # Name a line of the minority: the likely mistake.
        odd, usual = (
            (unlabelled, labelled) if len(unlabelled) <= len(labelled) else (labelled, unlabelled)
        )
        fail(
            odd[0],
            raw_lines[odd[0]],
            f'{"no label" if odd is unlabelled else "a label"}, unlike line {usual[0]} '
            f'({len(labelled)} lines have a label, {len(unlabelled)} none): either every '
            'line has a label or none has (a list without labels serves prediction only)',
        )
    if not entries:
        raise AnnotationError(
            f'{path}: the annotation list is empty; expected "{expected}" per line.'
        )
    return entries


def read_dataset_annotations(dataset: Dict) -> Optional[List[Dict]]:
    """:func:`read_annotation_list` with the arguments of a dataset config.

    Returns:
        The entries, or None when the dataset type does not read one of
        MMAction2's list formats (or names no local file).
    """
    kind = dataset.get('type')
    kind = kind if isinstance(kind, str) else getattr(kind, '__name__', None)
    ann_file = dataset.get('ann_file')
    if kind not in VIDEO_LIST_TYPES + RAWFRAME_LIST_TYPES or not isinstance(ann_file, str):
        return None
    if dataset.get('data_root') and not osp.isabs(ann_file):
        ann_file = osp.join(dataset['data_root'], ann_file)
    if kind in VIDEO_LIST_TYPES:
        return read_annotation_list(
            ann_file,
            'video',
            multi_class=dataset.get('multi_class', False),
            delimiter=dataset.get('delimiter'),
        )
    return read_annotation_list(
        ann_file,
        'rawframes',
        with_offset=dataset.get('with_offset', False),
        multi_class=dataset.get('multi_class', False),
    )


def _label(entry: Dict, multi_class: bool, path: str, test_mode: bool):
    if not entry['labels']:
        if not test_mode:
            raise AnnotationError(
                f"{path} has no labels (MMAction2's inference format); training needs "
                f'"<path> ... <label>" on every line.'
            )
        return [-1] if multi_class else -1  # MMAction2's mark of a missing label
    return entry['labels'] if multi_class else entry['labels'][0]


@DATASETS.register_module()
class TDSVideoDataset(VideoDataset):
    """``VideoDataset`` whose list is read by :func:`read_annotation_list`.

    Same arguments and samples as ``VideoDataset``; fields may be separated
    by tabs or several spaces, blank lines are skipped, and a malformed line
    is an :class:`AnnotationError` naming the file and the line. A list
    without labels is accepted in ``test_mode`` (label -1, as MMAction2
    marks it) and refused for training.
    """

    def load_data_list(self) -> List[dict]:
        data_list = []
        entries = read_annotation_list(
            self.ann_file, 'video', multi_class=self.multi_class, delimiter=self.delimiter
        )
        for entry in entries:
            filename = entry['path']
            if self.data_prefix['video'] is not None:
                filename = osp.join(self.data_prefix['video'], filename)
            label = _label(entry, self.multi_class, self.ann_file, self.test_mode)
            data_list.append(dict(filename=filename, label=label))
        return data_list


@DATASETS.register_module()
class TDSRawframeDataset(RawframeDataset):
    """``RawframeDataset`` whose list is read by :func:`read_annotation_list`
    (see :class:`TDSVideoDataset`)."""

    def load_data_list(self) -> List[dict]:
        data_list = []
        entries = read_annotation_list(
            self.ann_file, 'rawframes', with_offset=self.with_offset, multi_class=self.multi_class
        )
        for entry in entries:
            frame_dir = entry['path']
            if self.data_prefix['img'] is not None:
                frame_dir = osp.join(self.data_prefix['img'], frame_dir)
            info = dict(frame_dir=frame_dir, total_frames=entry['total_frames'])
            if self.with_offset:
                info['offset'] = entry['offset']
            info['label'] = _label(entry, self.multi_class, self.ann_file, self.test_mode)
            data_list.append(info)
        return data_list


def stock_video_list_problem(path: str, delimiter: str = ' ') -> Optional[str]:
    """What MMAction2's own ``VideoDataset`` would misread in a list that
    :func:`read_annotation_list` accepts: a blank line (read as a video
    named ``''``) or a tab between fields (the line read as one file name
    without label). Returns a message naming the first such line, or None.
    """
    if delimiter != ' ':
        return None
    for line_no, raw in enumerate(get_text(path, encoding='utf-8-sig').splitlines(), 1):
        what = None
        if not raw.strip():
            what = "a blank line, which MMAction2's VideoDataset reads as a video named ''"
        elif '\t' in raw.strip():
            what = "a tab, which MMAction2's VideoDataset does not split on (label -1)"
        if what:
            return (
                f'{path}, line {line_no}: {what}; remove it, or use '
                "type='TDSVideoDataset', which reads such lists correctly."
            )
    return None


def dataset_has_labels(dataset: Dict) -> Optional[bool]:
    """Whether the annotation list of a dataset config carries labels.

    Returns:
        None when unknown (a dataset type of another format, or no readable
        file); a malformed list raises :class:`AnnotationError`.
    """
    try:
        entries = read_dataset_annotations(dataset)
    except FileNotFoundError:
        return None
    return None if entries is None else bool(entries[0]['labels'])
