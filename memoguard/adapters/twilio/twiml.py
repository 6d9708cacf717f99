"""TwiML documents of a voice page, built with the library's ``VoiceResponse`` (never written by hand:
the library escapes the incident's summary and the URLs).

A ``Script`` (services/voice.py) becomes: ``<Say>`` for what is said first; then, when a key is asked
for, ``<Gather numDigits="1">`` around what is said meanwhile, so a key may be pressed at any moment of
it, posting to the gather route; ``finishOnKey`` is empty so that ``#`` is a key like the others (it does
nothing) rather than an empty answer. With no key, Twilio goes on to the ``<Redirect>`` after the gather:
the TwiML route again, as the next attempt; or, when there is none, ``<Hangup>``. Every ``<Say>`` speaks
the person's language with a voice of that language. A member joining the crisis bridge gets
``<Dial><Conference>`` named after the incident, its join and leave events posted to the conference route.
"""

from __future__ import annotations

from twilio.twiml.voice_response import VoiceResponse

from memoguard.services.voice import Script

VOICES = {"fr": ("Polly.Lea", "fr-FR"), "en": ("Polly.Joanna", "en-US")}
WAIT = 6  # seconds of silence after the menu before the gather gives up
BRIDGE_EVENTS = "start end join leave"  # the crisis bridge's events memoguard hears of


def voice(language: str) -> tuple[str, str]:
    """The ``voice`` and ``language`` attributes of a <Say> in ``language`` (English when unknown)."""
    return VOICES.get(language, VOICES["en"])


def document(script: Script, gather_url: str, redirect_url: str | None, conference_url: str) -> str:
    """``gather_url``: where a key is posted; ``redirect_url``: the next attempt when no key came;
    ``conference_url``: where the crisis bridge's events go."""
    name, language = voice(script.language)
    response = VoiceResponse()
    for text in script.said:
        response.say(text, voice=name, language=language)
    if script.conference is not None:
        dial = response.dial()
        dial.conference(
            script.conference,
            start_conference_on_enter=True,
            end_conference_on_exit=False,
            status_callback=conference_url,
            status_callback_event=BRIDGE_EVENTS,
            status_callback_method="POST",
        )
        return str(response)
    if script.menu is not None:
        gather = response.gather(num_digits=1, action=gather_url, method="POST", timeout=WAIT, finish_on_key="")
        for text in script.menu:
            gather.say(text, voice=name, language=language)
        if redirect_url is not None:
            response.redirect(redirect_url, method="POST")
            return str(response)
    response.hangup()
    return str(response)
