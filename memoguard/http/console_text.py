"""The web console's words in English and French (issue 18). One table per language rather than one
template per language (as the sign-in page has): the console's pages share their markup, and two copies
of every page would drift apart. A key missing from one language fails the test that compares them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

EN: Mapping[str, str] = {
    "title": "Incidents",
    "incident": "Incident",
    "colon": ":",
    "signed_in_as": "Signed in as",
    "sign_out": "Sign out",
    "filters": "Filters",
    "state": "State",
    "severity": "Severity",
    "source": "Source",
    "policy": "Policy",
    "open_states": "open",
    "all_states": "all",
    "any": "any",
    "apply": "Show",
    "none": "No incident matches.",
    "bad_state": "There is no such state to filter by:",
    "summary": "Summary",
    "paged": "Paged",
    "next_step": "Next step",
    "opened": "Opened",
    "nobody": "nobody yet",
    "no_next": "none",
    "step": "step",
    "of": "of",
    "in": "in",
    "overdue": "now",
    "timeline": "Timeline",
    "alarms": "Alarms",
    "labels": "Labels",
    "no_alarms": "No alarm stored.",
    "back": "All incidents",
    "cancel": "Cancel",
    "live": "Live: this page updates by itself.",
    "offline": "Not live: reload the page to see changes.",
    "confirm_ack": "Acknowledge incident {id}? You take it: the escalation stops.",
    "confirm_confirm": "Confirm incident {id}? You say you are working on it.",
    "confirm_resolve": "Resolve incident {id}? It is over.",
    "confirm_escalate": "Escalate incident {id} now? The next step is paged at once.",
    "verb_ack": "Acknowledge",
    "verb_confirm": "Confirm",
    "verb_resolve": "Resolve",
    "verb_escalate": "Escalate",
    "yes_ack": "Yes, acknowledge",
    "yes_confirm": "Yes, confirm",
    "yes_resolve": "Yes, resolve",
    "yes_escalate": "Yes, escalate",
    "done": "Done.",
    "unchanged": "Nothing changed:",
    "refused": "Refused:",
    "state_silenced": "silenced",
    "state_triggered": "triggered",
    "state_acknowledged": "acknowledged",
    "state_confirmed": "confirmed",
    "state_resolved": "resolved",
}

FR: Mapping[str, str] = {
    "title": "Incidents",
    "incident": "Incident",
    "colon": "\u00a0:",  # French puts a (non-breaking) space before a colon
    "signed_in_as": "Connecté en tant que",
    "sign_out": "Se déconnecter",
    "filters": "Filtres",
    "state": "État",
    "severity": "Gravité",
    "source": "Source",
    "policy": "Politique",
    "open_states": "ouverts",
    "all_states": "tous",
    "any": "toutes",
    "apply": "Afficher",
    "none": "Aucun incident ne correspond.",
    "bad_state": "Cet état n'existe pas :",
    "summary": "Résumé",
    "paged": "Alertés",
    "next_step": "Étape suivante",
    "opened": "Ouvert",
    "nobody": "personne encore",
    "no_next": "aucune",
    "step": "étape",
    "of": "sur",
    "in": "dans",
    "overdue": "maintenant",
    "timeline": "Chronologie",
    "alarms": "Alarmes",
    "labels": "Étiquettes",
    "no_alarms": "Aucune alarme enregistrée.",
    "back": "Tous les incidents",
    "cancel": "Annuler",
    "live": "En direct : cette page se met à jour toute seule.",
    "offline": "Pas en direct : rechargez la page pour voir les changements.",
    "confirm_ack": "Prendre en charge l'incident {id} ? Vous le prenez : l'escalade s'arrête.",
    "confirm_confirm": "Confirmer l'incident {id} ? Vous dites que vous y travaillez.",
    "confirm_resolve": "Résoudre l'incident {id} ? Il est terminé.",
    "confirm_escalate": "Escalader l'incident {id} maintenant ? L'étape suivante est alertée tout de suite.",
    "verb_ack": "Prendre en charge",
    "verb_confirm": "Confirmer",
    "verb_resolve": "Résoudre",
    "verb_escalate": "Escalader",
    "yes_ack": "Oui, je prends en charge",
    "yes_confirm": "Oui, confirmer",
    "yes_resolve": "Oui, résoudre",
    "yes_escalate": "Oui, escalader",
    "done": "C'est fait.",
    "unchanged": "Rien n'a changé :",
    "refused": "Refusé :",
    "state_silenced": "en maintenance",
    "state_triggered": "déclenché",
    "state_acknowledged": "pris en charge",
    "state_confirmed": "confirmé",
    "state_resolved": "résolu",
}

TEXTS: Mapping[str, Mapping[str, str]] = {"en": EN, "fr": FR}


def texts(language: str) -> Mapping[str, str]:
    return TEXTS.get(language, EN)


def countdown(left: timedelta, language: str) -> str:
    """ "in 4 min 05 s" / "dans 4 min 05 s"; "now" once due. The page's script keeps it ticking."""
    words = texts(language)
    seconds = int(left.total_seconds())
    if seconds <= 0:
        return words["overdue"]
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    shown = f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {seconds:02d} s"
    return f"{words['in']} {shown}"
