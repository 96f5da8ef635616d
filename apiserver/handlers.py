"""The REST verbs of the Kubernetes API over a Store: get, list, watch, create, update,
patch, delete, deletecollection, and the subresources status, scale, binding and eviction.

Every write follows Kubernetes' registry flow: decode → admission and defaulting →
validation → storage with a revision precondition (GuaranteedUpdate: re-read and retry on a
storage conflict when the client sent no resourceVersion) → the stored bytes are the answer.
Errors are always `Status` errors from apimachinery.errors; nothing here formats HTTP.

What this module must never do: keep state of its own (the store is the truth), mutate an
object it got from the store (they are shared: copy first), or block the event loop."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from apimachinery import errors
from apimachinery.errors import BadRequest, Cause, Conflict, Invalid, NotFound, StatusError
from apimachinery.resources import Registry, ResourceInfo
from apiserver import objects
from apiserver.allocators import ServiceAllocator
from apiserver.conversion import convert, has_conversion
from apiserver.fieldmanager import FieldManager
from apiserver.objects import deepcopy, key_for, meta, prefix_for, rfc3339
from apiserver.registry.validation import invalid
from apiserver.storage import (
    CompactedError,
    ConflictError,
    KeyExistsError,
    KeyNotFoundError,
    KeyValue,
    Store,
)

log = logging.getLogger(__name__)

MAX_OBJECT = 1536 * 1024  # 1.5 MiB, etcd's request limit under kube-apiserver
UPDATE_RETRIES = 16
GENERATE_NAME_ATTEMPTS = 8
# kube-apiserver's words for a continue token whose snapshot was compacted
CONTINUE_TOO_OLD = (
    "The provided continue parameter is too old to display a consistent list result. You can start a new list "
    "without the continue parameter, or use the continue token in this response to retrieve the remainder of the "
    "results. Continuing with the provided token results in an inconsistent list - objects that were created, "
    "modified, or deleted between the time the first chunk was returned and now may show up in the list.")

# Deleting these returns the object (Kubernetes' ReturnDeletedObject); others a Status.
RETURNS_DELETED_OBJECT = {("", "pods"), ("", "services"), ("", "namespaces"),
                          ("apiextensions.k8s.io", "customresourcedefinitions")}


@dataclass
class Options:
    """Query parameters shared by writes."""

    dry_run: bool = False
    field_manager: str = ""
    field_validation: str = "Strict"  # Kubernetes' server default since v1.27 when the client sends none? no: Warn
    warnings: list[str] | None = None
    #: keys the request body held twice in one object (found before the JSON parser kept the last)
    duplicate_fields: list[str] = field(default_factory=list)


class Handlers:
    def __init__(self, store: Store, registry: Registry, *,
                 strategy_for: Callable[[ResourceInfo], Any], model_for: Callable[[ResourceInfo], str | None],
                 admit: Callable[[str, ResourceInfo, dict[str, Any], dict[str, Any] | None],
                                 Awaitable[None] | None] | None = None):
        self.store = store
        self.registry = registry
        self.strategy_for = strategy_for
        self.model_for = model_for
        self.admit = admit or (lambda op, res, obj, old: None)
        self._ns_res = registry.by_resource("", "v1", "namespaces")
        self._services = registry.by_resource("", "v1", "services")
        self.service_allocator = ServiceAllocator()

    # ---------------------------------------------------------------- reads

    async def get(self, res: ResourceInfo, namespace: str | None, name: str) -> KeyValue:
        kv = await self.store.get(key_for(res, namespace, name))
        if kv is None:
            raise NotFound(res.plural, name, res.group)
        return kv

    async def list(self, res: ResourceInfo, namespace: str | None, *, label_selector: Any = None,
                   field_selector: Any = None, limit: int = 0, continue_: str = "", revision: int = 0,
                   ) -> tuple[list[KeyValue], int, str, int | None]:
        """Items, revision, continue token, remaining count (None when unknown). A list is
        one snapshot: at `revision` when given (resourceVersionMatch=Exact), and every page
        after the first at the revision of the first, as etcd serves them; Gone when that
        revision has left the retained history."""
        prefix = prefix_for(res, namespace)
        start_after = ""
        if continue_:
            token_revision, start_after = objects.decode_continue(continue_)
            if not start_after.startswith(prefix):
                raise BadRequest("continue key is not valid: key does not match the request")
            revision = max(token_revision, 0)  # -1: continue at the current state (inconsistent)
        try:
            return await self._list(res, prefix, label_selector, field_selector, limit, start_after, revision)
        except CompactedError:
            if not continue_:
                raise errors.Gone("The resourceVersion for the provided list is too old.") from None
            err = errors.Gone(CONTINUE_TOO_OLD)
            err.list_continue = objects.encode_continue(-1, start_after)
            raise err from None

    async def _list(self, res: ResourceInfo, prefix: str, label_selector: Any, field_selector: Any, limit: int,
                    start_after: str, revision: int) -> tuple[list[KeyValue], int, str, int | None]:
        filtered = label_selector is not None or field_selector is not None
        if not filtered:
            result = await self.store.list(prefix, limit=limit, start_after=start_after, revision=revision)
            token = ""
            if limit and result.remaining and result.items:
                token = objects.encode_continue(result.revision, result.items[-1].key)
            return result.items, result.revision, token, (result.remaining if token else None)
        # With selectors, page through storage until `limit` matching items are found, as
        # the etcd3 store does.
        out: list[KeyValue] = []
        cursor = start_after
        page = max(limit * 2, 500) if limit else 0
        while True:
            result = await self.store.list(prefix, limit=page, start_after=cursor, revision=revision)
            revision = result.revision
            for i, kv in enumerate(result.items):
                if self.matches(res, kv.obj, label_selector, field_selector):
                    out.append(kv)
                    if limit and len(out) == limit:
                        more = i < len(result.items) - 1 or result.remaining > 0
                        token = objects.encode_continue(revision, kv.key) if more else ""
                        return out, revision, token, None
            if not page or not result.remaining or not result.items:
                return out, revision, "", None
            cursor = result.items[-1].key

    def matches(self, res: ResourceInfo, obj: dict[str, Any], label_selector: Any, field_selector: Any) -> bool:
        if label_selector is not None and not label_selector.matches((obj.get("metadata") or {}).get("labels") or {}):
            return False
        if field_selector is not None:
            from apimachinery.selectors import object_fields
            if not field_selector.matches(object_fields(res.kind, obj, res.group)):
                return False
        return True

    # ---------------------------------------------------------------- create

    async def create(self, res: ResourceInfo, namespace: str | None, obj: dict[str, Any], opts: Options,
                     name_from_url: str | None = None) -> tuple[dict[str, Any] | KeyValue, int]:
        """Returns (stored KeyValue, or the would-be object for dry run, 201)."""
        self.check_type(res, obj)
        m = meta(obj)
        self.check_namespace(res, namespace, m)
        if name_from_url and m.get("name") and m["name"] != name_from_url:
            raise BadRequest(f"the name of the object ({m['name']}) does not match the name on the URL ({name_from_url})")
        generated = not m.get("name") and bool(m.get("generateName"))
        if generated:
            m["name"] = objects.generate_name(m["generateName"])
        self.check_fields(res, obj, opts, whole_object=True)
        if res.namespaced:
            await self.check_namespace_open(namespace or m.get("namespace") or "")
        storage = self.storage_resource(res)
        if storage is not res:
            obj = convert(obj, storage.api_version)
            m = meta(obj)
            res = storage
        strategy = self.strategy_for(res)
        for f in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"):
            m.pop(f, None)
        drop_empty_metadata(m)
        m["uid"] = objects.new_uid()
        m["creationTimestamp"] = rfc3339()
        strategy.prepare_for_create(obj)
        pending = self.admit("CREATE", res, obj, None)
        if pending is not None:  # a plug-in that looks something up (ServiceAccount)
            await pending
        strategy.default(obj)
        causes = strategy.validate(obj)
        if causes:
            raise Invalid(res.kind, m.get("name", ""), causes, res.group)
        self.add_warnings(opts, pod_template_warnings(res, obj))
        self.set_managed_fields(obj, None, opts, "Update")
        self.check_size(obj)
        if opts.dry_run:
            if await self.store.get(key_for(res, namespace, m["name"])) is not None:
                raise errors.AlreadyExists(res.plural, m["name"], res.group)
            return obj, 201
        is_service = res is self._services
        if is_service:
            await self.allocate_service(obj, None)
        try:
            # A generated name that is taken is generated again (Kubernetes' RetryGenerateName:
            # eight tries in all, then ServerTimeout), so that a controller creating a thousand
            # pods never sees a collision of its five random characters.
            for attempt in range(1, GENERATE_NAME_ATTEMPTS + 1):
                try:
                    kv = await self.store.create(key_for(res, namespace, m["name"]), obj)
                    break
                except KeyExistsError:
                    if not generated:
                        raise errors.AlreadyExists(res.plural, m["name"], res.group) from None
                    if attempt == GENERATE_NAME_ATTEMPTS:
                        raise errors.ServerTimeout(res.kind, "POST", res.group) from None
                    m["name"] = objects.generate_name(m["generateName"])
        finally:
            if is_service:
                self.service_allocator.stored(obj)
        return kv, 201

    async def allocate_service(self, svc: dict[str, Any], old: dict[str, Any] | None) -> None:
        assert self._services is not None
        existing = (await self.store.list(prefix_for(self._services, None))).items
        self.service_allocator.allocate(svc, (kv.obj for kv in existing), old)

    # ---------------------------------------------------------------- update

    async def update(self, res: ResourceInfo, namespace: str | None, name: str, obj: dict[str, Any],
                     opts: Options, subresource: str = "") -> tuple[dict[str, Any] | KeyValue, int]:
        """PUT: replace the object (or its status). Without resourceVersion in the body the
        update is unconditional, as `kubectl replace` needs."""
        self.check_type(res, obj)
        m = meta(obj)
        self.check_namespace(res, namespace, m)
        if m.get("name") and m["name"] != name:
            raise BadRequest(f"the name of the object ({m['name']}) does not match the name on the URL ({name})")
        m["name"] = name
        self.check_fields(res, obj, opts, whole_object=True)
        wanted_rv = m.get("resourceVersion") or ""
        new_body = obj

        def transform(current: dict[str, Any]) -> dict[str, Any]:
            if wanted_rv and wanted_rv != current["metadata"].get("resourceVersion"):
                raise Conflict(res.plural, name, res.group)
            return deepcopy(new_body)

        return await self.guaranteed_update(res, namespace, name, transform, opts, subresource, "Update")

    async def guaranteed_update(self, res: ResourceInfo, namespace: str | None, name: str,
                                transform: Callable[[dict[str, Any]], dict[str, Any]], opts: Options,
                                subresource: str = "", operation: str = "Update",
                                create_if_missing: Callable[[], dict[str, Any]] | None = None,
                                ) -> tuple[dict[str, Any] | KeyValue, int]:
        """Read, transform, validate, write with the read revision as precondition; retry on
        a storage conflict (the transform raises Conflict itself when the client's
        resourceVersion is stale)."""
        storage = self.storage_resource(res)
        if storage is not res:
            # The client speaks res's version, storage keeps another: convert around the change.
            requested, inner = res.api_version, transform

            def transform(current: dict[str, Any]) -> dict[str, Any]:
                return convert(inner(convert(current, requested)), storage.api_version)
            res = storage
        strategy = self.strategy_for(res)
        key = key_for(res, namespace, name)
        for _ in range(UPDATE_RETRIES):
            kv = await self.store.get(key)
            if kv is None:
                if create_if_missing is not None:
                    return await self.create(res, namespace, create_if_missing(), opts, name)
                raise NotFound(res.plural, name, res.group)
            old = kv.obj
            new = transform(old)
            nm = meta(new)
            om = old["metadata"]
            # Fields a client can never change.
            for f in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
                      "selfLink"):
                if f in om:
                    nm[f] = om[f]
                else:
                    nm.pop(f, None)
            nm["name"] = name
            if res.namespaced:
                nm["namespace"] = namespace
            if "managedFields" not in nm and "managedFields" in om:
                nm["managedFields"] = om["managedFields"]
            nm["resourceVersion"] = om.get("resourceVersion", "")
            drop_empty_metadata(nm)
            if subresource == "status":
                strategy.prepare_for_status_update(new, old)
                self.admit("UPDATE", res, new, old)
                causes = strategy.validate_status_update(new, old)
            elif subresource == "finalize" and hasattr(strategy, "prepare_for_finalize"):
                # Only spec.finalizers changes, which a plain namespace update may not touch.
                strategy.prepare_for_finalize(new, old)
                self.admit("UPDATE", res, new, old)
                causes = strategy.validate_spec_update(new, old)
            elif subresource == "binding":
                # Binding sets spec.nodeName (and PodScheduled), which a pod update may not change.
                self.admit("UPDATE", res, new, old)
                causes = []
            else:
                strategy.prepare_for_update(new, old)
                self.admit("UPDATE", res, new, old)
                strategy.default(new)
                causes = strategy.validate_update(new, old)
                if not causes and nm.get("generation") != om.get("generation"):
                    self.add_warnings(opts, pod_template_warnings(res, new))
            if causes:
                raise Invalid(res.kind, name, causes, res.group)
            self.set_managed_fields(new, old, opts, operation, subresource)
            if objects.strip_for_compare(new) == objects.strip_for_compare(old):
                return kv, 200  # no-op: Kubernetes does not write, the resourceVersion stays
            self.check_size(new)
            if self.should_delete_during_update(res, new):
                if opts.dry_run:
                    return new, 200
                try:
                    await self.store.delete(key, kv.revision)
                except (ConflictError, KeyNotFoundError):
                    continue
                return new, 200
            if opts.dry_run:
                return new, 200
            is_service = res is self._services and subresource == ""
            if is_service:
                await self.allocate_service(new, old)
            try:
                return await self.store.update(key, new, kv.revision), 200
            except ConflictError:
                continue
            except KeyNotFoundError:
                raise NotFound(res.plural, name, res.group) from None
            finally:
                if is_service:
                    self.service_allocator.stored(new)
        raise Conflict(res.plural, name, res.group)

    def storage_resource(self, res: ResourceInfo) -> ResourceInfo:
        """The version objects of `res` are stored in: the group's preferred version, for the
        few built-ins served in several versions (apiserver/conversion.py)."""
        if not has_conversion(res.group):
            return res
        versions = self.registry.versions(res.group)
        if not versions or versions[0] == res.version:
            return res
        return self.registry.by_resource(res.group, versions[0], res.plural) or res

    def should_delete_during_update(self, res: ResourceInfo, obj: dict[str, Any]) -> bool:
        """A terminating object whose last finalizer was just removed goes away."""
        m = obj["metadata"]
        if not m.get("deletionTimestamp") or m.get("finalizers"):
            return False
        if res.group == "" and res.plural == "namespaces" and (obj.get("spec") or {}).get("finalizers"):
            return False
        return not m.get("deletionGracePeriodSeconds")

    # ---------------------------------------------------------------- patch

    async def patch(self, res: ResourceInfo, namespace: str | None, name: str, body: bytes, content_type: str,
                    opts: Options, subresource: str = "", force: bool = False) -> tuple[dict[str, Any] | KeyValue, int]:
        from apimachinery.patch import json_patch, merge_patch, strategic

        patch_doc = objects.decode_body(body, content_type)
        model = self.model_for(res)
        if content_type == "application/strategic-merge-patch+json" and model is None:
            raise StatusError(415, "UnsupportedMediaType", "the body of the request was in an unknown format - "
                              "accepted media types include: application/json-patch+json, "
                              "application/merge-patch+json, application/apply-patch+yaml")
        if content_type == "application/apply-patch+yaml":
            return await self.apply(res, namespace, name, patch_doc, opts, subresource, force)
        if content_type == "application/json-patch+json":
            if not isinstance(patch_doc, list):
                raise BadRequest("json: cannot unmarshal object into Go value of type []handlers.jsonPatchOp")
        elif not isinstance(patch_doc, dict):
            raise BadRequest("json: cannot unmarshal array into Go value of type map[string]interface {}")

        def transform(current: dict[str, Any]) -> dict[str, Any]:
            try:
                if content_type == "application/json-patch+json":
                    new = json_patch.apply(current, patch_doc)
                elif content_type == "application/merge-patch+json":
                    new = merge_patch.apply(current, patch_doc)
                else:
                    new = strategic.apply(current, patch_doc, model)
            except StatusError:
                raise
            except Exception as e:  # the patch libraries raise their own types
                raise _patch_error(e) from None
            if not isinstance(new, dict):
                raise BadRequest("the patched object is not an object")
            if model is not None and not getattr(res, "unknown_fields", None):
                patched_type_check(new, model, patch_doc, content_type)
            want = (new.get("metadata") or {}).get("resourceVersion")
            if want and want != current["metadata"].get("resourceVersion"):
                raise Conflict(res.plural, name, res.group)
            self.check_fields(res, new, opts)
            return new

        return await self.guaranteed_update(res, namespace, name, transform, opts, subresource, "Update")

    async def apply(self, res: ResourceInfo, namespace: str | None, name: str, patch_doc: Any, opts: Options,
                    subresource: str, force: bool) -> tuple[dict[str, Any] | KeyValue, int]:
        """Server-side apply (apiserver.fieldmanager): the applied configuration is merged into
        the live object with field ownership, pruning and conflicts; created when absent."""
        if not isinstance(patch_doc, dict):
            raise BadRequest("apply patch must be an object")
        if not opts.field_manager:
            raise BadRequest("fieldManager is required for apply requests")
        self.check_type(res, patch_doc)
        model = self.model_for(res)
        fm = FieldManager(lambda _api_version, _kind: model)
        applied = patch_doc
        has_status = res.subresource("status") is not None
        apply_opts = _ApplyOptions(**{f.name: getattr(opts, f.name) for f in dataclasses.fields(Options)})

        def run(current: dict[str, Any] | None) -> dict[str, Any]:
            return fm.apply(current, applied, opts.field_manager, force=force, subresource=subresource,
                            api_version=res.api_version, reset_status=has_status)

        if model is not None and not getattr(res, "unknown_fields", None):
            applied_type_check(res, patch_doc, model)
        created = run(None)  # validates the configuration before anything is read

        want_rv = (applied.get("metadata") or {}).get("resourceVersion") if isinstance(applied.get("metadata"),
                                                                                          dict) else None

        def transform(current: dict[str, Any]) -> dict[str, Any]:
            if want_rv and want_rv != current["metadata"].get("resourceVersion"):
                raise Conflict(res.plural, name, res.group)  # a resourceVersion applied is a precondition
            new = run(current)
            self.check_fields(res, new, opts)
            return new

        def create_new() -> dict[str, Any]:
            obj = deepcopy(created)
            meta(obj)["name"] = name
            return obj

        return await self.guaranteed_update(res, namespace, name, transform, apply_opts, subresource, "Apply",
                                            create_if_missing=None if subresource else create_new)

    # ---------------------------------------------------------------- delete

    async def delete(self, res: ResourceInfo, namespace: str | None, name: str, options: dict[str, Any],
                     dry_run: bool = False) -> tuple[dict[str, Any] | KeyValue, int, bool]:
        """Returns (object or deleted object, status code, deleted immediately)."""
        key = key_for(res, namespace, name)
        policy = options.get("propagationPolicy")
        if policy is None and options.get("orphanDependents") is not None:
            policy = "Orphan" if options["orphanDependents"] else "Background"
        if policy not in (None, "Orphan", "Background", "Foreground"):
            raise Invalid("DeleteOptions", "", [Cause("propagationPolicy", f'Unsupported value: "{policy}": '
                          'supported values: "Foreground", "Background", "Orphan", "nil"', "FieldValueNotSupported")])
        pre = options.get("preconditions") or {}
        for _ in range(UPDATE_RETRIES):
            kv = await self.store.get(key)
            if kv is None:
                raise NotFound(res.plural, name, res.group)
            m = kv.obj["metadata"]
            if pre.get("uid") and pre["uid"] != m.get("uid"):
                raise Conflict(res.plural, name, res.group, message=(
                    f"Precondition failed: UID in precondition: {pre['uid']}, UID in object meta: {m.get('uid')}"))
            if pre.get("resourceVersion") and pre["resourceVersion"] != m.get("resourceVersion"):
                raise Conflict(res.plural, name, res.group, message=(
                    f"Precondition failed: ResourceVersion in precondition: {pre['resourceVersion']}, "
                    f"ResourceVersion in object meta: {m.get('resourceVersion')}"))
            obj = deepcopy(kv.obj)
            om = obj["metadata"]
            grace = self.grace_period(res, obj, options.get("gracePeriodSeconds"))
            finalizers = list(om.get("finalizers") or [])
            if policy == "Foreground":
                finalizers = [f for f in finalizers if f != "orphan"]
                if "foregroundDeletion" not in finalizers:
                    finalizers.append("foregroundDeletion")
            elif policy == "Orphan":
                finalizers = [f for f in finalizers if f != "foregroundDeletion"]
                if "orphan" not in finalizers:
                    finalizers.append("orphan")
            elif policy == "Background" and om.get("deletionTimestamp") is None:
                finalizers = [f for f in finalizers if f not in ("orphan", "foregroundDeletion")]
            is_ns = res.group == "" and res.plural == "namespaces"
            ns_pending = is_ns and bool((obj.get("spec") or {}).get("finalizers"))
            if not finalizers and grace == 0 and not ns_pending:
                if dry_run:
                    return kv.obj, 200, True
                try:
                    gone = await self.store.delete(key, kv.revision)
                except (ConflictError, KeyNotFoundError):
                    continue
                return gone, 200, True
            # Graceful: mark, keep. A shorter grace period than the current one wins.
            if finalizers:
                om["finalizers"] = finalizers
            else:
                om.pop("finalizers", None)
            when = objects.now() + dt.timedelta(seconds=grace)
            if om.get("deletionTimestamp") is None:
                om["deletionTimestamp"] = rfc3339(when)
                om["deletionGracePeriodSeconds"] = grace
            elif grace < int(om.get("deletionGracePeriodSeconds") or 0):
                om["deletionTimestamp"] = rfc3339(when)
                om["deletionGracePeriodSeconds"] = grace
            if is_ns:
                obj.setdefault("status", {})["phase"] = "Terminating"
            if obj == kv.obj:
                return kv, 200, False
            if dry_run:
                return obj, 200, False
            try:
                kv2 = await self.store.update(key, obj, kv.revision)
            except (ConflictError, KeyNotFoundError):
                continue
            code = 202 if policy in ("Foreground", "Background") and not res.plural == "pods" else 200
            return kv2, code, False
        raise Conflict(res.plural, name, res.group)

    def grace_period(self, res: ResourceInfo, obj: dict[str, Any], requested: Any) -> int:
        """Only pods have a grace period. An unscheduled or finished pod goes at once."""
        if not (res.group == "" and res.plural == "pods"):
            return 0
        spec = obj.get("spec") or {}
        if not spec.get("nodeName") or (obj.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            return 0
        if requested is not None:
            g = int(requested)
            return 1 if g < 0 else g
        return int(spec.get("terminationGracePeriodSeconds", 30) or 0)

    # ---------------------------------------------------------------- subresources

    async def get_scale(self, res: ResourceInfo, namespace: str | None, name: str) -> dict[str, Any]:
        return scale_of(res, (await self.get(res, namespace, name)).obj)

    async def update_scale(self, res: ResourceInfo, namespace: str | None, name: str,
                           change: Callable[[dict[str, Any]], dict[str, Any]], opts: Options) -> dict[str, Any]:
        def transform(current: dict[str, Any]) -> dict[str, Any]:
            scale = change(scale_of(res, current))
            want = (scale.get("metadata") or {}).get("resourceVersion")
            if want and want != current["metadata"].get("resourceVersion"):
                raise Conflict(res.plural, name, res.group)
            replicas = (scale.get("spec") or {}).get("replicas")
            if not isinstance(replicas, int) or replicas < 0:
                raise Invalid("Scale", name, [Cause("spec.replicas", f"Invalid value: {replicas}: must be greater "
                                                    "than or equal to 0")], "autoscaling")
            new = deepcopy(current)
            if getattr(res, "scale_paths", None):  # a custom resource's CRD says where replicas live
                res.set_replicas(new, replicas)  # type: ignore[attr-defined]
            else:
                new.setdefault("spec", {})["replicas"] = replicas
            return new

        stored, _ = await self.guaranteed_update(res, namespace, name, transform, opts, "scale")
        obj = stored.obj if isinstance(stored, KeyValue) else stored
        return scale_of(res, obj)

    async def bind(self, pods: ResourceInfo, namespace: str, name: str, binding: dict[str, Any],
                   opts: Options) -> None:
        target = binding.get("target") or {}
        node = target.get("name")
        if not node:
            raise Invalid("Binding", name, [Cause("target.name", "Required value", "FieldValueRequired")])

        def transform(current: dict[str, Any]) -> dict[str, Any]:
            m = current["metadata"]
            if m.get("deletionTimestamp"):
                raise Conflict(message=f'Operation cannot be fulfilled on pods/binding "{name}": '
                               f"pod {name} is being deleted, cannot be assigned to a host")
            bound = (current.get("spec") or {}).get("nodeName")
            if bound:
                raise Conflict(message=f'Operation cannot be fulfilled on pods/binding "{name}": '
                               f"pod {name} is already assigned to node \"{bound}\"")
            new = deepcopy(current)
            new["spec"]["nodeName"] = node
            ann = (binding.get("metadata") or {}).get("annotations")
            if ann:
                new["metadata"].setdefault("annotations", {}).update(ann)
            status = new.setdefault("status", {})
            conds = [c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"]
            conds.append({"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                          "lastTransitionTime": rfc3339()})
            status["conditions"] = conds
            return new

        await self.guaranteed_update(pods, namespace, name, transform, opts, "binding")

    async def evict(self, pods: ResourceInfo, pdbs: ResourceInfo, namespace: str, name: str,
                    eviction: dict[str, Any], opts: Options) -> None:
        """The eviction subresource: delete the pod unless a PodDisruptionBudget forbids it
        (429, which `kubectl drain` retries)."""
        from apimachinery.selectors import LabelSelector

        pod = (await self.get(pods, namespace, name)).obj
        delete_options = eviction.get("deleteOptions") or {}
        phase = (pod.get("status") or {}).get("phase")
        if phase not in ("Succeeded", "Failed") and not pod["metadata"].get("deletionTimestamp"):
            items, _, _, _ = await self.list(pdbs, namespace)
            labels = pod["metadata"].get("labels") or {}
            matching = [kv for kv in items
                        if (kv.obj.get("spec") or {}).get("selector") is not None
                        and LabelSelector.from_dict(kv.obj["spec"]["selector"]).matches(labels)]
            if len(matching) > 1:
                raise errors.InternalError("This pod has more than one PodDisruptionBudget, which the "
                                           "eviction subresource does not support.")
            if matching:
                await self._consume_disruption(pdbs, matching[0], name, opts)
        await self.delete(pods, namespace, name, delete_options, opts.dry_run)

    async def _consume_disruption(self, pdbs: ResourceInfo, kv: KeyValue, pod_name: str, opts: Options) -> None:
        for _ in range(UPDATE_RETRIES):
            pdb = kv.obj
            status = pdb.get("status") or {}
            allowed = int(status.get("disruptionsAllowed") or 0)
            if status.get("observedGeneration", 0) < pdb["metadata"].get("generation", 0):
                # As Kubernetes: retry in 10 s while the disruption controller catches up.
                raise errors.TooManyRequests(
                    "Cannot evict pod as it would violate the pod's disruption budget.", 10,
                    {"retryAfterSeconds": 10, "causes": [{"reason": "DisruptionBudget", "message": (
                        f"The disruption budget {pdb['metadata']['name']} is still being processed by the "
                        "server.")}]})
            if allowed <= 0:
                # As Kubernetes: no Retry-After (kubectl drain then waits 5 s between attempts
                # itself, and honours --timeout).
                healthy = status.get("currentHealthy", 0)
                desired = status.get("desiredHealthy", 0)
                raise errors.TooManyRequests(
                    "Cannot evict pod as it would violate the pod's disruption budget.", 0,
                    {"causes": [{"reason": "DisruptionBudget", "message": (
                        f"The disruption budget {pdb['metadata']['name']} needs {desired} healthy pods and has "
                        f"{healthy} currently")}]})
            if opts.dry_run:
                return
            new = deepcopy(pdb)
            st = new.setdefault("status", {})
            st["disruptionsAllowed"] = allowed - 1
            st.setdefault("disruptedPods", {})[pod_name] = rfc3339()
            try:
                await self.store.update(kv.key, new, kv.revision)
                return
            except ConflictError:
                latest = await self.store.get(kv.key)
                if latest is None:
                    return
                kv = latest
        raise Conflict(pdbs.plural, kv.obj["metadata"]["name"], pdbs.group)

    async def finalize_namespace(self, name: str, obj: dict[str, Any], opts: Options) -> tuple[Any, int]:
        """PUT namespaces/<name>/finalize: only spec.finalizers changes; once both finalizer
        lists are empty a terminating namespace is deleted."""
        assert self._ns_res is not None
        finalizers = list((obj.get("spec") or {}).get("finalizers") or [])

        def transform(current: dict[str, Any]) -> dict[str, Any]:
            new = deepcopy(current)
            new.setdefault("spec", {})["finalizers"] = finalizers
            if not finalizers:
                new["spec"].pop("finalizers")
            return new

        return await self.guaranteed_update(self._ns_res, None, name, transform, opts, "finalize")

    # ---------------------------------------------------------------- checks

    def check_type(self, res: ResourceInfo, obj: dict[str, Any]) -> None:
        api_version = obj.get("apiVersion")
        kind = obj.get("kind")
        if kind and kind != res.kind and not (res.subresources and kind in ("Scale",)):
            raise BadRequest(f"the kind in the data ({kind}) does not match the expected kind ({res.kind})")
        if api_version:
            group, _, version = api_version.rpartition("/")
            if group != res.group:
                raise BadRequest(f"the API version in the data ({api_version}) does not match the expected "
                                 f"API version ({res.api_version})")
            if version != res.version:
                other = self.registry.by_resource(group, version, res.plural)
                if other is None:
                    raise BadRequest(f"the API version in the data ({api_version}) does not match the "
                                     f"expected API version ({res.api_version})")
        obj["apiVersion"] = res.api_version
        obj["kind"] = res.kind

    def check_namespace(self, res: ResourceInfo, namespace: str | None, m: dict[str, Any]) -> None:
        if res.namespaced:
            body_ns = m.get("namespace")
            if body_ns and namespace and body_ns != namespace:
                raise BadRequest("the namespace of the provided object does not match the namespace sent on "
                                 "the request")
            if namespace:
                m["namespace"] = namespace
            elif not body_ns:
                raise BadRequest("the namespace of the provided object does not match the namespace sent on "
                                 "the request")
        else:
            m.pop("namespace", None)

    async def check_namespace_open(self, namespace: str) -> None:
        if self._ns_res is None:
            return
        kv = await self.store.get(key_for(self._ns_res, None, namespace))
        if kv is None:
            raise NotFound("namespaces", namespace)
        if kv.obj["metadata"].get("deletionTimestamp"):
            raise errors.Forbidden(f"unable to create new content in namespace {namespace} because it is being "
                                   "terminated", "", "")

    def check_fields(self, res: ResourceInfo, obj: dict[str, Any], opts: Options, whole_object: bool = False) -> None:
        """fieldValidation: duplicate and unknown fields are an error (Strict), warnings
        (Warn) or ignored. A whole object (create, update) that fails is reported as
        Kubernetes' decoder does (`Deployment in version "v1" cannot be handled as a
        Deployment: strict decoding error: ...`); a patched object by the bare strict error."""
        schema_unknown = getattr(res, "unknown_fields", None)  # custom resources: their CRD's schema
        model = self.model_for(res)
        # One quick walk answers the common case: every value typed, every field known.
        clean = model is not None and not schema_unknown and objects.typed_and_known(obj, model)
        if whole_object and model is not None and not schema_unknown and not clean:
            wrong = objects.type_mismatches(obj, model)
            if wrong:
                raise BadRequest(f'{res.kind} in version "{res.version}" cannot be handled as a {res.kind}: '
                                 f"{objects.decode_message(wrong[0])}")
        if clean:
            unknown: list[str] = []
        else:
            unknown = schema_unknown(obj) if schema_unknown else objects.unknown_fields(obj, model)
        for path in unknown:  # dropped whatever the level, as Kubernetes' decoder drops them
            objects.remove_path(obj, path)
        if opts.field_validation == "Ignore":
            return
        problems = [f'duplicate field "{k}"' for k in opts.duplicate_fields]
        problems += [f'unknown field "{p}"' for p in unknown]
        if not problems:
            return
        if opts.field_validation == "Strict":
            message = "strict decoding error: " + ", ".join(problems)
            if whole_object:
                message = f'{res.kind} in version "{res.version}" cannot be handled as a {res.kind}: {message}'
            raise BadRequest(message)
        self.add_warnings(opts, problems)

    @staticmethod
    def add_warnings(opts: Options, warnings: list[str]) -> None:
        if opts.warnings is not None:
            opts.warnings.extend(w for w in warnings if w not in opts.warnings)

    def check_size(self, obj: dict[str, Any]) -> None:
        if len(orjson.dumps(obj)) > MAX_OBJECT:
            raise errors.RequestEntityTooLarge("Request entity too large: limit is 1572864")

    def set_managed_fields(self, new: dict[str, Any], old: dict[str, Any] | None, opts: Options,
                           operation: str, subresource: str = "") -> None:
        """Record in managedFields which fields this write's manager now owns
        (apiserver.fieldmanager); an apply has computed them already."""
        if isinstance(opts, _ApplyOptions) or not opts.field_manager:
            return
        FieldManager().update(old, new, opts.field_manager, operation, subresource,
                              str(new.get("apiVersion") or ""), rfc3339())


def scale_of(res: ResourceInfo, obj: dict[str, Any]) -> dict[str, Any]:
    """The autoscaling/v1 Scale view of a workload."""
    from apimachinery.selectors import LabelSelector

    if getattr(res, "scale_paths", None):
        return res.scale_of(obj)  # type: ignore[attr-defined,no-any-return]

    m = obj["metadata"]
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    sel = spec.get("selector")
    if isinstance(sel, dict) and ("matchLabels" in sel or "matchExpressions" in sel):
        selector = str(LabelSelector.from_dict(sel))
    elif isinstance(sel, dict):
        selector = ",".join(f"{k}={v}" for k, v in sorted(sel.items()))
    else:
        selector = ""
    scale: dict[str, Any] = {
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {k: m[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp") if k in m},
        "spec": {"replicas": spec.get("replicas", 0)},
        "status": {"replicas": status.get("replicas", 0)},
    }
    if selector:
        scale["status"]["selector"] = selector
    return scale


@dataclass
class _ApplyOptions(Options):
    """The options of a server-side apply: its managedFields come from the apply itself."""


# Node labels Kubernetes deprecated, and what it says about them (pkg/api/node).
DEPRECATED_NODE_LABELS = {
    "beta.kubernetes.io/arch": 'deprecated since v1.14; use "kubernetes.io/arch" instead',
    "beta.kubernetes.io/os": 'deprecated since v1.14; use "kubernetes.io/os" instead',
    "failure-domain.beta.kubernetes.io/region": 'deprecated since v1.17; use "topology.kubernetes.io/region" instead',
    "failure-domain.beta.kubernetes.io/zone": 'deprecated since v1.17; use "topology.kubernetes.io/zone" instead',
    "beta.kubernetes.io/instance-type": 'deprecated since v1.17; use "node.kubernetes.io/instance-type" instead',
}
# Where each kind keeps its pod template.
_POD_TEMPLATE_PATHS = {("", "Pod"): (), ("", "PodTemplate"): ("template",),
                       ("", "ReplicationController"): ("spec", "template"),
                       ("apps", "Deployment"): ("spec", "template"), ("apps", "ReplicaSet"): ("spec", "template"),
                       ("apps", "StatefulSet"): ("spec", "template"), ("apps", "DaemonSet"): ("spec", "template"),
                       ("batch", "Job"): ("spec", "template"),
                       ("batch", "CronJob"): ("spec", "jobTemplate", "spec", "template")}


def pod_template_warnings(res: ResourceInfo, obj: dict[str, Any]) -> list[str]:
    """The `Warning` headers Kubernetes (pkg/api/pod warnings) sends for a pod or pod template
    that uses deprecated node labels in its nodeSelector or the annotations that replaced
    fields (seccomp: non-functional since v1.27; AppArmor: deprecated since v1.30)."""
    path = _POD_TEMPLATE_PATHS.get((res.group, res.kind))
    if path is None:
        return []
    template: Any = obj
    for key in path:
        template = template.get(key) if isinstance(template, dict) else None
    if not isinstance(template, dict):
        return []
    prefix = "".join(f"{key}." for key in path)
    out = []
    node_selector = (template.get("spec") or {}).get("nodeSelector") or {}
    for label in node_selector:
        if label in DEPRECATED_NODE_LABELS:
            out.append(f"{prefix}spec.nodeSelector[{label}]: {DEPRECATED_NODE_LABELS[label]}")
    for key in (template.get("metadata") or {}).get("annotations") or {}:
        if key == "seccomp.security.alpha.kubernetes.io/pod" or key.startswith(
                "container.seccomp.security.alpha.kubernetes.io/"):
            out.append(f'{prefix}metadata.annotations[{key}]: non-functional in v1.27+; use the "seccompProfile" '
                       "field instead")
        elif key.startswith("container.apparmor.security.beta.kubernetes.io/"):
            out.append(f'{prefix}metadata.annotations[{key}]: deprecated since v1.30; use the "appArmorProfile" '
                       "field instead")
    return out




def patched_type_check(new: dict[str, Any], model: str, patch_doc: Any, content_type: str) -> None:
    """A patched built-in object whose values its Go types refuse: 422 with a `patch` cause, as
    Kubernetes' patch handler reports the failed decode of the patched object (the patched
    JSON for JSON and merge patches, the patch itself for a strategic merge patch)."""
    strategic = content_type == "application/strategic-merge-patch+json"
    wrong = objects.type_mismatches(new, model, objects.CONVERT if strategic else objects.DECODE)
    if not wrong:
        return
    if strategic:
        shown, detail = objects.go_v(patch_doc), objects.convert_message(wrong[0])
    else:
        shown, detail = objects.go_json(new), objects.decode_message(wrong[0])
    cause = invalid("patch", shown, detail)
    raise StatusError(422, "Invalid", f' "" is invalid: patch: {cause.message}', {"causes": [cause.to_dict()]})


def applied_type_check(res: ResourceInfo, applied: dict[str, Any], model: str) -> None:
    """A server-side apply configuration its schema refuses (wrong types, undeclared fields):
    Kubernetes answers the error of structured-merge-diff's typing as a 500 with no reason."""
    wrong = objects.type_mismatches(applied, model, objects.TYPED)
    if not wrong:
        return
    m = applied.get("metadata")
    m = m if isinstance(m, dict) else {}
    where = f"{m.get('namespace') or ''}/{m.get('name') or ''}; {res.group}/{res.version}, Kind={res.kind}"
    raise StatusError(500, "", f"failed to create typed patch object ({where}): {objects.typed_message(wrong)}")


def drop_empty_metadata(m: dict[str, Any]) -> None:
    """Kubernetes omits empty labels, annotations, finalizers and ownerReferences (Go's
    omitempty): `kubectl label x-` of the last label leaves no `labels: {}` behind."""
    for key in ("labels", "annotations", "finalizers", "ownerReferences"):
        if key in m and not m[key]:
            del m[key]


def _patch_error(e: Exception) -> StatusError:
    msg = str(e) or e.__class__.__name__
    code = getattr(e, "code", 422)
    if code == 400:
        return BadRequest(msg)
    return StatusError(422, "Invalid", msg)


def copy_kv_obj(kv_or_obj: KeyValue | dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(kv_or_obj.obj) if isinstance(kv_or_obj, KeyValue) else kv_or_obj


async def sleep_until(when: dt.datetime) -> None:
    delay = (when - objects.now()).total_seconds()
    if delay > 0:
        await asyncio.sleep(delay)
