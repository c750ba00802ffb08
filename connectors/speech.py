"""Alert text to speech (WAV) with espeak-ng, for the village loudspeakers.

Voices by language:

=========  ===================  ==========================================
language   espeak-ng voice      input
=========  ===================  ==========================================
``zh-CN``  ``cmn-latn-pinyin``  pinyin with tone numbers (``bao4 yu3``)
``yue``    ``yue``              the Chinese text itself
``en``     ``en``               the text itself
=========  ===================  ==========================================

espeak-ng's Mandarin voices ``cmn`` and ``zh`` read tone digits as English
numbers, so Mandarin goes through :func:`to_pinyin` (pypinyin, tone style 3,
neutral tone as 5) and the ``cmn-latn-pinyin`` voice. Chinese punctuation
becomes ASCII punctuation so the voice pauses where the text does; digits
are left to espeak-ng, which reads ``100`` as *yi bai*.

A rendering is cached by the SHA-256 of voice, speed and input text: the
same alert for a hundred loudspeakers is rendered once. espeak-ng writes
16-bit mono WAV at 22,050 Hz; the duration comes from the WAV header.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import shutil
import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path

from pypinyin import Style, lazy_pinyin

from schemas.errors import ConfigError

log = logging.getLogger(__name__)

VOICES = {"zh-CN": "cmn-latn-pinyin", "yue": "yue", "en": "en"}
PUNCTUATION = str.maketrans(
    {
        "，": ", ",
        "、": ", ",
        "。": ". ",
        "：": ": ",
        "；": "; ",
        "！": "! ",
        "？": "? ",
        "（": " (",
        "）": ") ",
        "【": " ",
        "】": ". ",
        "“": " ",
        "”": " ",
        "《": " ",
        "》": " ",
    }
)


@dataclass(frozen=True)
class SpeechAudio:
    """A rendered announcement: WAV file, duration (s) and size (bytes)."""

    path: Path
    duration_s: float
    size_bytes: int
    voice: str
    language: str


def to_pinyin(text: str) -> str:
    """Return ``text`` with Chinese characters as tone-numbered pinyin.

    >>> to_pinyin("暴雨红色预警。")
    'bao4 yu3 hong2 se4 yu4 jing3 .'
    """
    plain = text.translate(PUNCTUATION)
    syllables = lazy_pinyin(plain, style=Style.TONE3, neutral_tone_with_five=True)
    return " ".join(s.strip() for s in syllables if s.strip())


def speech_input(text: str, language: str) -> tuple[str, str]:
    """Return ``(voice, input text)`` for espeak-ng."""
    if language not in VOICES:
        raise ConfigError(
            f"no voice for language {language!r}; expected one of {', '.join(VOICES)}"
        )
    voice = VOICES[language]
    if voice == "cmn-latn-pinyin":
        return voice, to_pinyin(text)
    return voice, text.translate(PUNCTUATION) if language == "yue" else text


def wav_duration_s(path: Path) -> float:
    """Return the duration of a PCM WAV file, seconds."""
    with wave.open(str(path), "rb") as wav:
        return wav.getnframes() / float(wav.getframerate())


class SpeechRenderer:
    """Renders and caches announcements in ``cache_dir``.

    Parameters
    ----------
    cache_dir : Path
        Where the WAV files go (created if missing).
    speed_wpm : int
        espeak-ng speaking rate, words per minute.
    espeak : str
        The espeak-ng executable.
    """

    def __init__(
        self, cache_dir: Path, *, speed_wpm: int = 150, espeak: str = "espeak-ng"
    ) -> None:
        if shutil.which(espeak) is None:
            raise ConfigError(f"speech: {espeak!r} is not on PATH")
        self.cache_dir = cache_dir
        self.speed_wpm = speed_wpm
        self.espeak = espeak
        self.rendered = 0

    def cache_path(self, text: str, language: str) -> Path:
        """Return the file a text in a language is (or would be) cached at."""
        voice, spoken = speech_input(text, language)
        key = f"{voice}\0{self.speed_wpm}\0{spoken}".encode()
        return self.cache_dir / f"{hashlib.sha256(key).hexdigest()[:24]}.wav"

    def render(self, text: str, language: str) -> SpeechAudio:
        """Return the announcement of ``text``, rendering it unless cached."""
        voice, spoken = speech_input(text, language)
        path = self.cache_path(text, language)
        if not path.exists():
            self._run_espeak(voice, spoken, path)
        return SpeechAudio(
            path=path,
            duration_s=wav_duration_s(path),
            size_bytes=path.stat().st_size,
            voice=voice,
            language=language,
        )

    async def render_async(self, text: str, language: str) -> SpeechAudio:
        """:meth:`render` in a worker thread."""
        return await asyncio.to_thread(self.render, text, language)

    def _run_espeak(self, voice: str, spoken: str, path: Path) -> None:
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.part")
        command = [self.espeak, "-v", voice, "-s", str(self.speed_wpm)]
        command += ["-w", str(partial), "--stdin"]
        done = subprocess.run(
            command, input=spoken.encode("utf-8"), capture_output=True, check=False
        )
        if done.returncode != 0 or not partial.exists():
            partial.unlink(missing_ok=True)
            raise ConfigError(
                f"speech: espeak-ng voice {voice} failed ({done.returncode}): "
                f"{done.stderr.decode(errors='replace').strip()}"
            )
        partial.replace(path)
        self.rendered += 1
        log.debug("speech: rendered %s with %s", path.name, voice)
