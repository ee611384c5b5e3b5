"""The words of the customer's pages, per language: English and French.

The language is the customer's, resolved as their emails' is (touchline.content.catalog:
``fr-CA`` falls back to ``fr``, then to English): the locale they stated, else the first
language their browser asks for that we have, else English. A missing French phrase shows
in English rather than breaking the page (a test checks that French has every key).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from touchline.content.catalog import _locale_chain
from touchline.errors import Problem

DEFAULT = "en"

MESSAGES: dict[str, dict[str, str]] = {
    "en": {
        "title.preferences": "Your preferences",
        "title.sms": "Text messages",
        "title.invalid": "Link not valid",
        "heading": "Your messages from {company}",
        "lead": "Choose what we send you and when. Changes apply to the next message.",
        "nothing_changed": "Nothing was changed:",
        "channels": "Channels",
        "channels.hint": "Offers and news reach you only on the channels you tick.",
        "to_address": "to {address}",
        "no_address": "We have no {kind} for you.",
        "waiting": "Waiting for you",
        "waiting.hint": "We texted you a link to confirm; or reply YES to that message.",
        "topics": "Topics",
        "topic.required": "Always on: these are about your own account (orders, security), "
        "so we send them whatever you choose here.",
        "first": "Contact me first by",
        "quiet": "Quiet hours",
        "quiet.hint": "No offers or news between these times, in your time zone ({zone}); "
        "leave both empty for any time of day.",
        "quiet.company": "Text messages never come between {start} and {end} ({zone}).",
        "quiet.from": "From",
        "quiet.until": "Until",
        "timezone": "Time zone",
        "timezone.hint": "Your time now: {now}. Quiet hours and sending times follow it.",
        "save": "Save my choices",
        "unsubscribe.heading": "Unsubscribe from everything",
        "unsubscribe.hint": "No more offers or news on any channel. Notices about your own "
        "account (receipts, password resets) still reach you.",
        "unsubscribe.button": "Unsubscribe from all marketing",
        "notice.saved": "Saved. Your choices apply from the next message.",
        "notice.unsubscribed": "Done: you will get no more marketing from us, on any channel. "
        "Notices about your account still reach you.",
        "channel.email": "Email",
        "channel.sms": "Text messages (SMS)",
        "channel.whatsapp": "WhatsApp",
        "channel.x": "X direct messages",
        "kind.email": "email address",
        "kind.phone": "mobile number",
        "kind.whatsapp": "WhatsApp number",
        "kind.x_handle": "X handle",
        "sms.pending.heading": "Get our offers by text message?",
        "sms.pending.lead": "Confirm that {phone} is yours and that you want texts from "
        "{company}: up to a few a week. Reply STOP to any of them to stop.",
        "sms.this_number": "this number",
        "sms.your_phone": "your phone",
        "sms.pending.button": "Yes, text me",
        "sms.confirmed.heading": "Thank you — you're subscribed",
        "sms.confirmed.lead": "Our text messages will reach {phone}. Reply STOP to any of "
        "them to stop.",
        "sms.granted.heading": "You're already subscribed",
        "sms.granted.lead": "Text messages from {company} already reach {phone}.",
        "sms.none.heading": "Nothing to confirm",
        "sms.none.lead": "There is no request for text messages waiting. To get them, turn "
        "them on from the settings link at the bottom of any email from us.",
        "invalid.heading": "This link is not valid any more",
        "invalid.lead": "It may have expired, or it was copied incompletely. Nothing was changed.",
        "invalid.hint": "Every email we send has a fresh link to your settings at the "
        "bottom: open the newest one.",
    },
    "fr": {
        "title.preferences": "Vos préférences",
        "title.sms": "SMS",
        "title.invalid": "Lien non valide",
        "heading": "Vos messages de {company}",
        "lead": "Choisissez ce que nous vous envoyons, et quand. Vos choix s'appliquent dès "
        "le prochain message.",
        "nothing_changed": "Rien n'a été modifié :",
        "channels": "Canaux",
        "channels.hint": "Offres et actualités ne vous parviennent que sur les canaux cochés.",
        "to_address": "à {address}",
        "no_address": "Nous n'avons pas votre {kind}.",
        "waiting": "En attente de votre confirmation",
        "waiting.hint": "Nous vous avons envoyé un lien par SMS pour confirmer ; vous pouvez "
        "aussi répondre OUI (YES) à ce message.",
        "topics": "Sujets",
        "topic.required": "Toujours actif : ces messages concernent votre compte (commandes, "
        "sécurité), nous les envoyons quels que soient vos choix ici.",
        "first": "Me contacter d'abord par",
        "quiet": "Heures calmes",
        "quiet.hint": "Aucune offre ni actualité entre ces heures, dans votre fuseau horaire "
        "({zone}) ; laissez les deux champs vides pour n'importe quelle heure.",
        "quiet.company": "Les SMS n'arrivent jamais entre {start} et {end} ({zone}).",
        "quiet.from": "De",
        "quiet.until": "À",
        "timezone": "Fuseau horaire",
        "timezone.hint": "Votre heure actuelle : {now}. Les heures calmes et d'envoi la suivent.",
        "save": "Enregistrer mes choix",
        "unsubscribe.heading": "Se désabonner de tout",
        "unsubscribe.hint": "Plus aucune offre ni actualité, sur aucun canal. Les messages "
        "concernant votre compte (reçus, réinitialisation du mot de passe) vous parviennent "
        "toujours.",
        "unsubscribe.button": "Me désabonner de tout le marketing",
        "notice.saved": "Enregistré. Vos choix s'appliquent dès le prochain message.",
        "notice.unsubscribed": "C'est fait : vous ne recevrez plus de marketing de notre "
        "part, sur aucun canal. Les messages concernant votre compte vous parviennent "
        "toujours.",
        "channel.email": "E-mail",
        "channel.sms": "SMS",
        "channel.whatsapp": "WhatsApp",
        "channel.x": "Messages privés X",
        "kind.email": "adresse e-mail",
        "kind.phone": "numéro de mobile",
        "kind.whatsapp": "numéro WhatsApp",
        "kind.x_handle": "identifiant X",
        "sms.pending.heading": "Recevoir nos offres par SMS ?",
        "sms.pending.lead": "Confirmez que le {phone} est bien le vôtre et que vous souhaitez "
        "recevoir les SMS de {company} : quelques-uns par semaine au plus. Répondez STOP à "
        "n'importe lequel pour les arrêter.",
        "sms.this_number": "ce numéro",
        "sms.your_phone": "votre téléphone",
        "sms.pending.button": "Oui, envoyez-moi des SMS",
        "sms.confirmed.heading": "Merci, vous êtes inscrit·e",
        "sms.confirmed.lead": "Nos SMS arriveront au {phone}. Répondez STOP à n'importe "
        "lequel pour les arrêter.",
        "sms.granted.heading": "Vous êtes déjà inscrit·e",
        "sms.granted.lead": "Les SMS de {company} arrivent déjà au {phone}.",
        "sms.none.heading": "Rien à confirmer",
        "sms.none.lead": "Aucune demande d'inscription aux SMS n'est en attente. Pour en "
        "recevoir, activez-les depuis le lien des préférences en bas de nos e-mails.",
        "invalid.heading": "Ce lien n'est plus valide",
        "invalid.lead": "Il a peut-être expiré, ou n'a pas été copié en entier. Rien n'a été "
        "modifié.",
        "invalid.hint": "Chaque e-mail que nous envoyons contient en bas un nouveau lien "
        "vers vos préférences : ouvrez le plus récent.",
        # What a refused form says, by the field at fault (the English words are the
        # problems' own, shared with the API).
        "problem.quiet_hours": "Indiquez une heure de début et une heure de fin différentes, "
        "ou laissez les deux vides.",
        "problem.quiet_hours.start": "L'heure de début n'est pas une heure : utilisez HH:MM, "
        "par ex. 21:30.",
        "problem.quiet_hours.end": "L'heure de fin n'est pas une heure : utilisez HH:MM, "
        "par ex. 07:00.",
        "problem.timezone": "Ce fuseau horaire est inconnu : choisissez-en un dans la liste.",
        "problem.channel": "Ce canal ne peut pas être activé : nous n'avons pas l'adresse "
        "nécessaire.",
        "problem.topic": "Ce sujet est inconnu.",
        "problem.first": "Ce canal est inconnu.",
        "problem.form": "Le formulaire n'a pas pu être lu : veuillez réessayer.",
    },
}


@dataclass(frozen=True)
class Translator:
    """The words of one language, called from templates as ``t("key", name=value)``."""

    language: str

    def __call__(self, key: str, **values: Any) -> str:
        text = MESSAGES[self.language].get(key) or MESSAGES[DEFAULT][key]
        return text.format(**values) if values else text

    def problem(self, problem: Problem) -> str:
        """A refused form's problem in this language (the problem's own words in English)."""
        if self.language == DEFAULT:
            return problem.message
        return MESSAGES[self.language].get(f"problem.{problem.field}", problem.message)


def language_of(stated: str | None, accept_language: str | None = None) -> str:
    """The language of the pages for a customer: their stated locale, then their browser's."""
    for candidate in [stated, *_accepted(accept_language)]:
        for option in _locale_chain(candidate):
            if option and option.lower() in MESSAGES:
                return option.lower()
    return DEFAULT


def translator(stated: str | None = None, accept_language: str | None = None) -> Translator:
    return Translator(language_of(stated, accept_language))


def _accepted(header: str | None) -> Iterable[str]:
    """Accept-Language's languages, most wanted first (``fr-CH, fr;q=0.9, en;q=0.8``)."""
    if not header:
        return []
    ranked = []
    for index, part in enumerate(header.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag and tag != "*" and quality > 0:
            ranked.append((-quality, index, tag.strip()))
    return [tag for _, _, tag in sorted(ranked)]
