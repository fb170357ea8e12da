from .tds_clip_recognizer import TDSCLIPRecognizer

__all__ = ['TDSCLIPRecognizer']
