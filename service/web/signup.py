"""Sign-up, confirmation, preferences and one-click leave: the subscriber's pages.

Nobody can sign up someone else (double opt-in: only the address's owner gets the link),
nobody can learn who is subscribed (every sign-up answers the same page), and leaving takes
one click, also from the mail client's own button (RFC 8058). A GET never changes anything,
because link scanners follow GETs.

No form carries a CSRF token, and the site sets no cookie: nothing acts on a visitor's
session, for there is none. What a form changes is named by the secret token in its address
(confirm, preferences) or needs the address's owner to confirm (sign-up), and a form a browser
posts from another site's page is refused (``security.from_another_site``). So the sign-up
pages are the same for every visitor, and cached like feeds.
"""

from __future__ import annotations

import difflib
from datetime import timedelta
from functools import cache
from typing import Any, TypeVar

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    make_response,
    render_template,
    request,
)
from flask.typing import ResponseReturnValue
from flask_babel import get_locale, gettext, lazy_gettext, ngettext
from markupsafe import Markup
from werkzeug.datastructures import MultiDict
from wtforms import (
    BooleanField,
    EmailField,
    Form,
    SelectField,
    SelectMultipleField,
    StringField,
    widgets,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Email, InputRequired, Length, ValidationError

from .. import language as words
from .. import urls
from ..calendar.alarms import LEAD_TIMES
from ..catalog.models import WEEKDAYS, Choices, Digest
from ..catalog.values import LOCAL_ALIASES, zone, zone_choices
from ..live import LiveCatalog
from ..reminders import outbox
from ..reminders import subscribers as store
from ..reminders.subscribers import Subscriber
from ..tokens import CONFIRM_WITHIN, Ticket, TokenError
from .current import live_catalog, signing_tokens
from .languages import page_language, speak, topics_in
from .links import subscribe_links
from .page_cache import cached_page
from .personal import feed_address
from .security import from_another_site
from .throttle import Throttle, windows

bp = Blueprint("signup", __name__)


class _Checkboxes(SelectMultipleField):
    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


def _valid_zone(form: Form, field: StringField) -> None:
    try:
        zone(field.data)
    except ValueError as err:
        close = difflib.get_close_matches(str(field.data), zone_choices(), n=1)
        if field.data in LOCAL_ALIASES:
            said = gettext(
                "%(zone)s is an abbreviation: name the zone, e.g. Europe/Brussels",
                zone=repr(field.data),
            )
        elif close:
            said = gettext(
                "unknown time zone %(zone)s; did you mean %(close)s?",
                zone=repr(field.data),
                close=repr(close[0]),
            )
        else:
            said = gettext(
                "unknown time zone %(zone)s; choose one from the list, such as Europe/Brussels",
                zone=repr(field.data),
            )
        raise ValidationError(said) from err


def _some_topic(form: Form, field: SelectMultipleField) -> None:
    if not field.data:
        raise ValidationError(gettext("Choose at least one topic."))


class PreferencesForm(Form):
    topics = _Checkboxes(lazy_gettext("Topics"), validators=[_some_topic])
    timezone = StringField(
        lazy_gettext("Your time zone"),
        validators=[InputRequired(lazy_gettext("Choose your time zone.")), _valid_zone],
    )
    # Choices: the site's languages (``signup_form``); a choice it no longer offers is none.
    language = SelectField(lazy_gettext("Language of the mails"), validate_choice=False)


class ManageForm(PreferencesForm):
    """The preferences page's form: what sign-up asks, the personal feed's alarms, and
    whether to hear when an event moves."""

    alarms = _Checkboxes(lazy_gettext("Alarms in your calendar"))

    per_event = BooleanField(lazy_gettext("Reminders before each event"))
    digest = BooleanField(lazy_gettext("A weekly digest of what is coming"))
    digest_weekday = SelectField(
        lazy_gettext("on"),
        choices=[SelectChoice(day, day.capitalize()) for day in WEEKDAYS],  # named per page
        default=WEEKDAYS[0],
        validate_choice=True,
    )
    digest_hour = SelectField(
        lazy_gettext("at"),
        choices=[SelectChoice(str(hour), f"{hour:02d}:00") for hour in range(24)],
        default="8",
        validate_choice=True,
    )
    new_events = BooleanField(lazy_gettext("A mail when a new event appears in my topics"))
    # A checkbox: a form posted without it (unticked) turns the notices off.
    change_notices = BooleanField(lazy_gettext("Mail me when an event I follow moves"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The days as the page's language names them (Babel's: 0 is Monday).
        names = get_locale().days["format"]["wide"] if get_locale() else {}
        self.digest_weekday.choices = [
            SelectChoice(day, str(names.get(index, day.capitalize())))
            for index, day in enumerate(WEEKDAYS)
        ]

    def lead_times(self) -> list[timedelta]:
        """Return the lead times chosen (validation has kept only offered ones)."""
        return [timedelta(seconds=int(value)) for value in self.alarms.data or []]

    def validate_per_event(self, field: BooleanField) -> None:
        if not (field.data or self.digest.data):
            raise ValidationError(
                gettext("Choose reminders before each event, a weekly digest, or both.")
            )

    def choices(self) -> Choices:
        """Return the mail chosen (validation has kept only offered days and hours)."""
        digest = None
        if self.digest.data:
            digest = Digest(WEEKDAYS.index(self.digest_weekday.data), int(self.digest_hour.data))
        return Choices(bool(self.per_event.data), digest, bool(self.new_events.data))


class SignupForm(PreferencesForm):
    email = EmailField(
        lazy_gettext("Email address"),
        validators=[
            InputRequired(lazy_gettext("Enter your email address.")),
            Length(max=320, message=lazy_gettext("An email address has at most 320 characters.")),
            Email(lazy_gettext("Enter a valid email address, like name@example.org.")),
        ],
    )


F = TypeVar("F", bound=PreferencesForm)


def signup_form(kind: type[F], formdata: MultiDict[str, str] | None = None, **data: Any) -> F:
    """Return a sign-up or preferences form offering the catalog's topics.

    ``formdata``: what was posted (None: a fresh form, with ``data`` chosen).
    """
    # WTForms says what it checks itself (a choice not offered) in the page's language too.
    form = kind(formdata, meta={"locales": [page_language()]}, **data)
    site = live_catalog().edition.catalog.config
    topics = topics_in(site, page_language())
    form.topics.choices = [(slug, topic.name) for slug, topic in topics.items()]
    form.language.choices = [(code, words.NAMES[code]) for code in site.site.languages]
    if form.language.data not in site.site.languages:
        form.language.data = page_language()
    if isinstance(form, ManageForm):
        form.alarms.choices = [
            SelectChoice(str(int(lead.total_seconds())), lead_label(lead)) for lead in LEAD_TIMES
        ]
    return form


def lead_label(lead: timedelta) -> str:
    """Say how long before an event an alarm rings: ``15 minutes before``."""
    seconds = int(lead.total_seconds())
    if seconds % 86400 == 0:
        return str(ngettext("%(num)d day before", "%(num)d days before", seconds // 86400))
    if seconds % 3600 == 0:
        return str(ngettext("%(num)d hour before", "%(num)d hours before", seconds // 3600))
    return str(ngettext("%(num)d minute before", "%(num)d minutes before", seconds // 60))


def _notify_worker() -> None:
    """Let a worker in this process send the new mail now rather than at its next sweep."""
    wake = current_app.extensions.get("calfeed.wake")
    if wake is not None:
        wake()


def _subscribe_page() -> Response:
    """Show the sign-up form, with the topic of a topic's link already chosen."""
    live = live_catalog()
    edition = live.edition
    topic = request.args.get("topic")
    if topic not in edition.catalog.config.topics:
        topic = None  # an unknown topic chooses nothing: the same page as without

    def render() -> tuple[str, None]:
        form = signup_form(SignupForm, formdata=None, topics=[topic] if topic else None)
        return render_template("subscribe.html", **_page(form=form)), None

    return cached_page(edition, ("subscribe", topic), live.clock(), render)


@bp.route(urls.SUBSCRIBE, methods=["GET", "POST"])
def subscribe() -> ResponseReturnValue:
    """Show the sign-up form (GET); mail a confirmation link for a valid sign-up (POST)."""
    if request.method == "GET":
        return _subscribe_page()
    live = live_catalog()
    form = signup_form(SignupForm, request.form)
    if not form.validate():
        return render_template("subscribe.html", **_page(form=form)), 400
    settings = live.edition.catalog.config.signup
    throttle: Throttle = current_app.extensions["calfeed.throttle"]
    if not throttle.allow(settings.limit_per_client, request.remote_addr or ""):
        text = gettext("Too many sign-up requests. Please wait a while and try again.")
        title = gettext("Slow down")
        return render_template("notice.html", **_page(title=title, text=text)), 429
    now = live.clock()
    with live.engine.begin() as connection:
        person, kind = store.request(
            connection,
            form.email.data,
            form.topics.data,
            zone(form.timezone.data),
            now,
            windows(settings.limit_per_address),
            live.edition.catalog.config.reminders.defaults,
            live.edition.catalog.config.site.language_for(form.language.data),
        )
        if kind is not None:
            outbox.queue_account_mail(connection, person.id, kind, now, CONFIRM_WITHIN)
    if kind is not None:
        _notify_worker()
    # The same answer whether the address is new, pending, confirmed or had its share of
    # mail: nothing to learn here.
    return render_template(
        "notice.html",
        **_page(
            title=gettext("Check your inbox"),
            text=gettext(
                "We sent a mail to %(address)s. Follow its link within %(hours)d hours to "
                "confirm your reminders.",
                address=form.email.data,
                hours=CONFIRM_WITHIN // timedelta(hours=1),
            ),
        ),
    )


@bp.route(urls.CONFIRM, methods=["GET", "POST"])
def confirm(token: str) -> ResponseReturnValue:
    """Ask for a click (GET), then confirm the sign-up (POST)."""
    ticket = _check("confirm", token)
    live = live_catalog()
    if request.method == "GET":
        with live.engine.connect() as connection:
            pending = store.get(connection, ticket.subscriber_id)
        speak(pending.language if pending else None)
        return render_template("confirm.html", **_page())
    with live.engine.begin() as connection:
        person = store.confirm(connection, ticket.subscriber_id, live.clock(), ticket.generation)
    speak(person.language if person else None)
    if person is None:
        return _token_problem(gettext("This sign-up can no longer be confirmed."), 410)
    _notify_worker()
    return _preferences_page(person, saved=gettext("Your reminders are confirmed."))


@bp.route(urls.PREFERENCES, methods=["GET", "POST"])
def preferences(token: str) -> ResponseReturnValue:
    """Change topics, zone, the mail chosen, change notices and the feed's alarms; show the feed."""
    ticket = _check("manage", token)
    live = live_catalog()
    with live.engine.connect() as connection:
        person = store.get(connection, ticket.subscriber_id)
    speak(person.language if person else None)
    if person is None or person.status != "confirmed" or person.generation != ticket.generation:
        return _token_problem(gettext("These reminders are not active any more."), 410)
    if request.method == "GET":
        return _preferences_page(person)
    form = signup_form(ManageForm, request.form)
    if not form.validate():
        return _preferences_page(person, form=form), 400
    with live.engine.begin() as connection:
        store.update(
            connection,
            person.id,
            form.topics.data,
            zone(form.timezone.data),
            form.lead_times(),
            (form.choices(), live.clock()),
            change_notices=form.change_notices.data,
            language=live.edition.catalog.config.site.language_for(form.language.data),
        )
        person = store.get(connection, person.id) or person
    speak(person.language)  # the language just chosen
    return _preferences_page(person, saved=gettext("Your preferences are saved."))


@bp.route(urls.UNSUBSCRIBE, methods=["GET", "POST"])
def unsubscribe(token: str) -> ResponseReturnValue:
    """Show a button (GET); unsubscribe at once (POST, also RFC 8058 one-click)."""
    ticket = _check("unsubscribe", token)
    live = live_catalog()
    with live.engine.begin() as connection:
        if request.method == "POST":
            store.unsubscribe(connection, ticket.subscriber_id, live.clock(), ticket.generation)
        person = store.get(connection, ticket.subscriber_id)
    speak(person.language if person else None)
    if person is not None and person.generation != ticket.generation:
        # The address signed up again since this link was mailed: it leaves by a newer link.
        return _token_problem(
            f"{gettext('This link belongs to reminders that have ended.')} {_newer_link()}", 410
        )
    if request.method == "GET":
        return render_template("unsubscribe.html", **_page())
    return render_template(
        "notice.html",
        **_page(
            title=gettext("Unsubscribed"),
            text=gettext("You will get no more mail from us."),
            again=True,
        ),
    )


@bp.before_request
def _from_this_site_only() -> ResponseReturnValue | None:
    """Refuse a form that a browser posts from another site's page.

    The one-click unsubscribe is exempt: mail providers post it from their own servers, and
    a webmail's button may post it from the webmail's page (RFC 8058).
    """
    if request.method != "POST" or request.endpoint == "signup.unsubscribe":
        return None
    if not from_another_site(request, live_catalog().edition.catalog.config.site.base_url):
        return None
    text = gettext("This form was sent from another site's page. Please use the form on this site.")
    return render_template("notice.html", **_page(title=gettext("Not sent"), text=text)), 403


@bp.after_request
def _kept_by_nobody(response: Response) -> Response:
    """Keep the pages behind a token (they show an address) out of every cache."""
    if request.endpoint in ("signup.confirm", "signup.preferences", "signup.unsubscribe"):
        response.cache_control.no_store = True
    return response


def _preferences_page(
    person: Subscriber, form: PreferencesForm | None = None, saved: str | None = None
) -> str:
    tokens = signing_tokens()
    config = live_catalog().edition.catalog.config
    if form is None:
        # formdata=None: show what is stored, not the fields of the POST that led here.
        stored = {
            "topics": sorted(person.topics),
            "timezone": person.timezone.key,
            "alarms": [str(int(lead.total_seconds())) for lead in person.alarms],
            **_chosen(person.choices, config.reminders.digest),
            "change_notices": person.change_notices,
            "language": config.site.language_for(person.language),
        }
        form = signup_form(ManageForm, formdata=None, **stored)
    feed = feed_address(person)
    return render_template(
        "preferences.html",
        **_page(
            form=form,
            person=person,
            saved=saved,
            manage_token=tokens.make("manage", person.id, person.generation),
            unsubscribe_token=tokens.make("unsubscribe", person.id, person.generation),
            subscribe=subscribe_links(feed, gettext("%(site)s: my topics", site=config.site.title)),
        ),
    )


def _chosen(choices: Choices, offered: Digest) -> dict[str, Any]:
    """Return the form's mail fields as ``choices`` fill them (a digest's time: ``offered``)."""
    at = choices.digest or offered
    return {
        "per_event": choices.per_event,
        "digest": choices.digest is not None,
        "digest_weekday": WEEKDAYS[at.weekday],
        "digest_hour": str(at.hour),
        "new_events": choices.new_events,
    }


def _newer_link() -> str:
    """Say where to turn when a link no longer works.

    Every mail carries fresh links, and signing up again with a subscribed address mails a
    link to its preferences.
    """
    return str(
        gettext(
            "Use the link in a newer mail from us, or sign up again with your address: "
            "we will mail you a link to your reminders."
        )
    )


def _check(purpose: str, token: str) -> Ticket:
    try:
        return signing_tokens().check(purpose, token)
    except TokenError as err:
        reason = _TOKEN_PROBLEMS.get(str(err), str(err))
        sorry = gettext("Sorry: %(reason)s.", reason=reason)
        abort(_token_problem(f"{sorry} {_newer_link()}", 400))


# What ``tokens`` says of a link that does not work, in the page's language.
_TOKEN_PROBLEMS = {
    "this link has expired": lazy_gettext("this link has expired"),
    "this link is not valid": lazy_gettext("this link is not valid"),
}


def _token_problem(text: str, status: int) -> Response:
    title = gettext("This link does not work")
    page = render_template("notice.html", **_page(title=title, text=text, again=True))
    return make_response(page, status)


@cache
def zone_options() -> Markup:
    """Return the time zone names as the options of the form's list, written once."""
    return Markup("").join(Markup('<option value="{}">').format(name) for name in zone_choices())


def _page(**values: Any) -> dict[str, Any]:
    live: LiveCatalog = live_catalog()
    return {"catalog": live.edition.catalog, "zones": zone_options(), **values}


def described(field: Any, attributes: dict[str, str]) -> dict[str, str]:
    """Return a form field's HTML attributes, pointing at its error message when it has one."""
    if field.errors:
        return {**attributes, "aria-describedby": f"{field.id}-error", "aria-invalid": "true"}
    return attributes


def init_app(app: Flask) -> None:
    """Register the pages and the per-client sign-up limit."""
    app.jinja_env.globals["described"] = described
    config = app.extensions["calfeed.live"].edition.catalog.config
    storage = config.signup.limits_storage
    app.extensions["calfeed.throttle"] = Throttle(storage, app.config["SECRET_KEY"], config.path)
    app.register_blueprint(bp)
