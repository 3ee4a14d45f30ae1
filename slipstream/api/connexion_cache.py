"""Connexion without its per-request rebuilding: the same checks and messages, built once per operation.

Connexion 3 rebuilds, on every request, things that depend only on the operation: the view function's
decorator chain and URI parser (AsyncOperation.fn), and a jsonschema validator for each parameter
(after deep-copying its schema) and for the request body. It also lists a path-level parameter once
more for every middleware that reads the spec (OpenAPIOperation extends the operation's own
`parameters` list in place), so GET /dags/{dag_id}/dag_runs validated dag_id six times. Measured by
`python -m bench.api`; these subclasses plug in where Connexion lets one choose the class.
"""

from __future__ import annotations

import functools
import threading
import typing as t

from connexion.apps.asynchronous import AsyncApi, AsyncApp, AsyncOperation
from connexion.context import receive, scope
from connexion.datastructures import MediaTypeDict
from connexion.decorators import StarletteDecorator
from connexion.decorators.parameter import AsyncParameterDecorator
from connexion.exceptions import BadRequestProblem
from connexion.http_facts import FORM_CONTENT_TYPES
from connexion.json_schema import Draft4RequestValidator
from connexion.lifecycle import ConnexionRequest
from connexion.operations import OpenAPIOperation
from connexion.spec import OpenAPISpecification
from connexion.utils import is_null, is_nullable
from connexion.validators import VALIDATOR_MAP, JSONRequestBodyValidator, ParameterValidator
from jsonschema import Draft4Validator, ValidationError

from slipstream.api.http import NO_DOCUMENT, loads_like_json_module, remember_json_body, remembered_json_body

_FORMAT_CHECKER = Draft4Validator.FORMAT_CHECKER


class _SchemaValidators:
    """One jsonschema validator per schema dict of the spec (which lives as long as the app)."""

    def __init__(self, factory: t.Callable[[dict], t.Any]) -> None:
        self._factory = factory
        self._validators: dict[int, tuple[dict, t.Any]] = {}
        self._lock = threading.Lock()

    def __call__(self, schema: dict) -> t.Any:
        cached = self._validators.get(id(schema))
        if cached is not None and cached[0] is schema:
            return cached[1]
        validator = self._factory(schema)
        with self._lock:
            self._validators[id(schema)] = (schema, validator)  # the schema is kept, so its id stays unique
        return validator


# Keywords a request validator (Draft 4 with Connexion's nullable type/enum) never fails on.
_ANNOTATIONS = frozenset(
    {"description", "example", "examples", "title", "default", "nullable", "x-nullable", "deprecated"}
    | {"readOnly", "writeOnly", "externalDocs", "xml"}
)


def _is_inert(subschema: t.Any) -> bool:
    """Whether every instance is valid against `subschema` (it only annotates)."""
    return isinstance(subschema, dict) and all(k in _ANNOTATIONS or k.startswith("x-") for k in subschema)


def without_inert_properties(schema: t.Any) -> t.Any:
    """`schema` with the `properties` entries that can never fail left out, wherever no
    additionalProperties or patternProperties makes a listed property differ from an unlisted one.

    Same verdicts and messages: such an entry yields no error. jsonschema still descends into every
    present property it lists (about 4 us each); the trigger's body lists four, all annotations.
    Only Draft 4's subschema keywords are followed; anything else (examples, enums) is kept as it is.
    """
    if not isinstance(schema, dict):
        return schema
    slim = dict(schema)
    for keyword in ("items", "additionalProperties", "not"):
        if isinstance(slim.get(keyword), dict):
            slim[keyword] = without_inert_properties(slim[keyword])
    for keyword in ("items", "allOf", "anyOf", "oneOf"):
        if isinstance(slim.get(keyword), list):
            slim[keyword] = [without_inert_properties(sub) for sub in slim[keyword]]
    for keyword in ("properties", "patternProperties", "dependencies", "definitions"):
        if isinstance(slim.get(keyword), dict):
            slim[keyword] = {name: without_inert_properties(sub) for name, sub in slim[keyword].items()}
    properties = slim.get("properties")
    if (
        isinstance(properties, dict)
        and slim.get("additionalProperties", True) is True
        and "patternProperties" not in slim
    ):
        kept = {name: sub for name, sub in properties.items() if not _is_inert(sub)}
        if kept:
            slim["properties"] = kept
        else:
            del slim["properties"]
    return slim


HANDLER_CHECKS = "x-handler-checks"


def without_handler_checks(schema: t.Any) -> t.Any:
    """`schema` without the keywords that a subschema lists under `x-handler-checks`, at any depth.

    The spec states what the service accepts, so that generators type it and fuzzers believe it; where
    the handler checks a field itself, in Airflow's order and with Airflow's messages (`conf`, a pool's
    `slots`, execution dates), the validator must not answer first with a message of its own.
    """
    if not isinstance(schema, dict):
        return schema
    left_out = set(schema.get(HANDLER_CHECKS, ()))
    slim = {key: value for key, value in schema.items() if key not in left_out}
    for keyword in ("schema", "items", "additionalProperties", "not"):  # `schema`: a parameter's
        if isinstance(slim.get(keyword), dict):
            slim[keyword] = without_handler_checks(slim[keyword])
    for keyword in ("allOf", "anyOf", "oneOf"):
        if isinstance(slim.get(keyword), list):
            slim[keyword] = [without_handler_checks(sub) for sub in slim[keyword]]
    if isinstance(slim.get("properties"), dict):
        slim["properties"] = {name: without_handler_checks(sub) for name, sub in slim["properties"].items()}
    return slim


_parameter_validators = _SchemaValidators(
    lambda param: Draft4Validator(without_handler_checks(param), format_checker=_FORMAT_CHECKER)
)
_body_validators = _SchemaValidators(
    lambda schema: Draft4RequestValidator(
        without_inert_properties(without_handler_checks(schema)), format_checker=_FORMAT_CHECKER
    )
)


def _distinct(parameters: list[dict]) -> list[dict]:
    """The parameters with repeats of the very same definition dropped (see the module docstring)."""
    seen: set[int] = set()
    return [p for p in parameters if not (id(p) in seen or seen.add(id(p)))]


class _StringVerdicts:
    """What validating a string against a schema said (None or the error), by (schema, string).

    A verdict depends on nothing else, and clients send the same few values again and again (a DAG's
    id in every path). Bounded: emptied when full, as the values clients may send are unbounded.
    """

    def __init__(self, max_entries: int = 4096) -> None:
        self._max_entries = max_entries
        self._verdicts: dict[tuple[int, str], str | None] = {}

    def __call__(self, schema: dict, value: str) -> str | None:
        key = (id(schema), value)  # _parameter_validators keeps every schema alive: its id stays its own
        try:
            return self._verdicts[key]
        except KeyError:
            pass
        verdict = _verdict(schema, value)
        if len(self._verdicts) >= self._max_entries:
            self._verdicts.clear()
        self._verdicts[key] = verdict
        return verdict


def _verdict(schema: dict, value: t.Any) -> str | None:
    try:
        _parameter_validators(schema).validate(value)
    except ValidationError as exception:
        return str(exception)
    return None


_string_verdicts = _StringVerdicts()
_SCALAR_TYPES = ("integer", "number", "boolean")


class CachedParameterValidator(ParameterValidator):
    """ParameterValidator, validating each parameter once, with a validator built once per schema and
    each string value's verdict remembered."""

    def __init__(self, parameters, uri_parser, strict_validation=False, security_query_params=None) -> None:
        super().__init__(_distinct(parameters), uri_parser, strict_validation, security_query_params)

    @staticmethod
    def validate_parameter(parameter_type, value, param, param_name=None):
        if is_nullable(param) and is_null(value):
            return None
        if value is not None:
            schema = param.get("schema", param)
            verdict = _string_verdicts(schema, value) if type(value) is str else _verdict(schema, value)
            if verdict and type(value) is str and schema.get("type") in _SCALAR_TYPES and " is not of type " in verdict:
                # A value that is not a number or boolean at all: Connexion 2's (and so Airflow's) wording.
                return f"Wrong type, expected '{schema['type']}' for {parameter_type} parameter '{param['name']}'"
            return verdict
        if param.get("required"):
            return f"Missing {parameter_type} parameter '{param['name']}'"
        return None


class CachedJSONRequestBodyValidator(JSONRequestBodyValidator):
    """JSONRequestBodyValidator with one validator per schema, parsing mostly with orjson.

    JsonBodyCheckMiddleware (slipstream.api.http, before validation) has already refused any body orjson
    cannot parse; of the rest, json.loads reads the same values, except integers beyond 64 bits, which
    loads_like_json_module leaves to json.loads (the handler's argument is json.loads's document).
    """

    @property
    def _validator(self):
        return _body_validators(self._schema)

    async def _parse(self, stream, scope) -> t.Any:
        raw = b"".join([message async for message in stream])
        document = remembered_json_body(scope, raw)
        if document is not NO_DOCUMENT:
            return document
        body = raw.decode(self._encoding)
        if not body:
            return None
        try:
            document = loads_like_json_module(body)
        except ValueError as exc:  # orjson's and json's decode errors are both ValueErrors
            raise BadRequestProblem(detail=str(exc)) from None
        remember_json_body(scope, raw, document)  # a default body this validator put in place
        return document


class _RememberingMediaTypeDict(MediaTypeDict):
    """MediaTypeDict remembering which entry each media type matched: Connexion looks up the body
    validator on every request with a body, sorting the ranges and trying fnmatch on each."""

    _MISSING = object()

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self._matched: dict[str, t.Any] = {}

    def __getitem__(self, item):
        value = self._matched.get(item)
        if value is None:
            try:
                value = super().__getitem__(item)
            except KeyError:
                value = self._MISSING
            if len(self._matched) < 256:  # media types are the client's to choose: keep the first few
                self._matched[item] = value
        if value is self._MISSING:
            raise KeyError(item)
        return value


def _body_validator_map() -> MediaTypeDict:
    validators = dict(VALIDATOR_MAP["body"])
    for media_type, validator in validators.items():
        if validator is JSONRequestBodyValidator:
            validators[media_type] = CachedJSONRequestBodyValidator
    return _RememberingMediaTypeDict(validators)


VALIDATOR_MAP_CACHED = {"parameter": CachedParameterValidator, "body": _body_validator_map()}


class CachedOpenAPIOperation(OpenAPIOperation):
    """OpenAPIOperation answering body_definition from a cache: Connexion asks for it six times per
    request with a body, and each time matches the content type against the spec's media type ranges
    (fnmatch) and re-attaches the components. The answer depends on the content type alone."""

    def body_definition(self, content_type: str | None = None) -> dict:
        cache = self.__dict__.setdefault("_body_definitions", {})
        definition = cache.get(content_type)
        if definition is None:
            definition = cache[content_type] = super().body_definition(content_type)
        return definition


class _SanitizingOnceParameterDecorator(AsyncParameterDecorator):
    """AsyncParameterDecorator remembering each parameter name's sanitized form (three regex
    substitutions per name, five names per request, always the same few names)."""

    def __init__(self, **kwargs: t.Any) -> None:
        super().__init__(**kwargs)
        self.sanitize_fn = functools.lru_cache(maxsize=256)(self.sanitize_fn)


class _BodyOnceRequest(ConnexionRequest):
    """ConnexionRequest giving the handler the JSON document already parsed for this request (by
    JsonBodyCheckMiddleware or the body validator) rather than parsing it a third time, and not asking
    Starlette for form data in a body that is not a form (it finds none, after some work)."""

    async def get_body(self):
        document = remembered_json_body(self._starlette_request.scope)
        return await super().get_body() if document is NO_DOCUMENT else document

    async def files(self):
        if self.mimetype in FORM_CONTENT_TYPES:
            return await super().files()
        return {}


class _OperationDecorator(StarletteDecorator):
    """StarletteDecorator building the URI parser and the decorator chain on the first call only."""

    @property
    def _parameter_decorator_cls(self) -> type[AsyncParameterDecorator]:
        return _SanitizingOnceParameterDecorator

    def __call__(self, function: t.Callable) -> t.Callable:
        built: tuple[t.Any, t.Callable] | None = None

        @functools.wraps(function)
        async def wrapper(*args, **kwargs):
            nonlocal built
            if built is None:
                # Both depend only on the operation, which is always this one's.
                built = (self.uri_parser, self.decorate(function))
            uri_parser, decorated = built
            return await decorated(_BodyOnceRequest(scope, receive, uri_parser=uri_parser))

        return wrapper


class CachedAsyncOperation(AsyncOperation):
    """AsyncOperation whose decorated view function is built once, not on every request."""

    @functools.cached_property
    def fn(self) -> t.Callable:
        return _OperationDecorator(pythonic_params=self.pythonic_params, jsonifier=self.jsonifier)(self._fn)


class CachedAsyncApi(AsyncApi):
    def make_operation(self, operation) -> CachedAsyncOperation:
        return CachedAsyncOperation.from_operation(
            operation, pythonic_params=self.pythonic_params, jsonifier=self.jsonifier
        )


def use_cached_operations(app: AsyncApp) -> None:
    """Make `app` build CachedAsyncOperations; call before add_api. (AsyncApp takes no operation class.)

    Every middleware builds its operations from the specification's operation class, which Connexion
    offers no option for: it is set on the OpenAPI 3 specification class, for this process.
    """
    app._middleware_app.api_cls = CachedAsyncApi
    OpenAPISpecification.operation_cls = CachedOpenAPIOperation
