"""Writes that count only once replicas have them (NEWSFEED_ACK_REPLICAS).

`WAIT n timeout` answers how many replicas reached the replication offset of
the connection it is sent on, as of that connection's last command. So a
write and its WAIT must go on one connection to the primary that made it:

- on one Redis, a non-transactional pipeline (inside MULTI a WAIT returns at
  once);
- on a Redis Cluster, redis-py sends a keyless WAIT to an arbitrary node and
  its cluster pipeline refuses EVALSHA, so the script calls are grouped by the
  primary that owns their slot, and each group goes with a WAIT behind it in
  one round trip on one connection of that primary
  (`ClusterNode.execute_pipeline`). A call's keys are in one slot (hash tags,
  shared.partitions).

A write that changes nothing (an unchanged resubmission) must wait too: the
write that made what it found may be one whose WAIT fell short. `confirm`
makes a tiny write in that slot on the same connection (a marker key with an
expiry), then WAITs: the replicas that reach it have everything the primary
had before. A PUBLISH is no such write on a cluster (it travels over the
cluster bus, not the replication stream; Redis 7.0 happens to move the
connection's offset on any command, later servers need not).

After a failover a write may meet MOVED or ASK (the slot has another primary),
a dropped connection (the primary died) or CLUSTERDOWN. Whether it was made is
then unknown, so it is not acknowledged: `Unconfirmed` (a ConnectionError,
which ingest answers 503 and a worker retries), and the client's slot
map is brought up to date for the next attempt. It is never reported done.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, PipelineCommand, RedisCluster
from redis.commands.core import AsyncScript
from redis.exceptions import (
    AskError,
    ClusterDownError,
    MovedError,
    NoScriptError,
    ResponseError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from shared.redis_client import Client

T = TypeVar("T")

# A marker's lifetime: long enough to outlive any WAIT behind it.
MARKER_TTL_MS = 60_000
# A dead primary keeps failing until the cluster promotes its replica (a few
# seconds): its slot map is re-read at most this often meanwhile.
REFRESH_INTERVAL_S = 0.5
# Errors after which a cluster write's fate is unknown: the slot moved or its
# primary is gone or unreachable.
_FAILOVER_ERRORS = (
    MovedError,
    AskError,
    ClusterDownError,
    TryAgainError,
    RedisConnectionError,
    RedisTimeoutError,
    OSError,
)

# What redis-py 8.1 raises from a connection another task closed under it
# (its cluster client closes every connection on CLUSTERDOWN): seen in the
# services' logs during failovers ("unable to perform operation on
# <TCPTransport closed=True>", "'NoneType' object has no attribute
# 'writelines'"). Caught around the one I/O call only.
_CLOSED_UNDERNEATH = (RuntimeError, AttributeError)


class NotReplicated(RedisTimeoutError):  # type: ignore[misc]  # redis is untyped here
    """The write is on the primary but fewer replicas than wanted took it in
    time: not acknowledged (ingest answers 503 with Retry-After)."""


class Unconfirmed(RedisConnectionError):  # type: ignore[misc]  # redis is untyped here
    """The slot's primary could not be asked (failover under way, slot moved,
    node gone): the write may or may not have been made; not acknowledged."""


class TooFewReplicas(RuntimeError):
    """A shard has fewer replicas than NEWSFEED_ACK_REPLICAS asks for: every
    write to it would be refused. Refused at start instead."""


async def refuse_unreachable(redis: Client, replicas: int) -> None:
    """At start, on a cluster: TooFewReplicas when a shard that serves slots
    has fewer replicas configured (up or down: CLUSTER SHARDS lists both) than
    `replicas`. A replica that is merely down is no reason to refuse; its
    shard's writes are answered 503 until it is back. (One Redis knows only
    its connected replicas, so there a missing one shows as those 503s.)"""
    if not replicas or not isinstance(redis, RedisCluster):
        return
    shards = await redis.execute_command("CLUSTER SHARDS", target_nodes=RedisCluster.RANDOM)
    for shard in shards:
        if not shard["slots"]:
            continue
        configured = sum(1 for node in shard["nodes"] if node["role"] == "replica")
        if configured < replicas:
            first, last = shard["slots"][:2]
            raise TooFewReplicas(
                f"NEWSFEED_ACK_REPLICAS={replicas}, but the shard serving slots "
                f"{first}-{last} has {configured} replica(s): every write there would be "
                "refused. Add replicas, or lower NEWSFEED_ACK_REPLICAS."
            )


@dataclass(frozen=True)
class ScriptCall:
    """One run of a registered script; its keys share one slot."""

    script: AsyncScript
    keys: Sequence[str]
    args: Sequence[str | bytes | int]


class ReplicatedWrites:
    """Runs script calls and, with `replicas` > 0, acknowledges them only
    once WAIT saw that many replicas take them."""

    def __init__(self, redis: Client, replicas: int, timeout_ms: int) -> None:
        self.redis = redis
        self.replicas = replicas
        self.timeout_ms = timeout_ms
        self._refreshed_at = 0.0
        self._refreshing = asyncio.Lock()

    async def run(self, calls: Sequence[ScriptCall]) -> list[Any]:
        """Each call's reply, in order. Calls on one slot run in the order
        given. With `replicas`: NotReplicated when a primary's WAIT fell
        short (the writes are on it), Unconfirmed when a primary could not be
        asked (cluster: their fate is unknown)."""
        if not calls:
            return []
        if isinstance(self.redis, RedisCluster):
            if self.replicas:
                return await self._on_cluster(self.redis, calls)
            return await _by_slot(self.redis, calls)
        if not self.replicas and len(calls) == 1:
            call = calls[0]
            return [await call.script(keys=call.keys, args=call.args)]
        async with self.redis.pipeline(transaction=False) as pipe:
            for call in calls:
                # On a pipeline this only queues the EVALSHA (loaded at execute).
                await call.script(keys=call.keys, args=call.args, client=pipe)
            if self.replicas:
                pipe.execute_command("WAIT", self.replicas, self.timeout_ms)
            replies = list(await pipe.execute())
        if self.replicas:
            self._check(replies.pop())
        return replies

    async def confirm(self, markers: Sequence[str]) -> None:
        """Wait until the replicas have everything the primaries of the
        `markers`' slots hold now: on each of those primaries a SET of a
        marker, then WAIT, on one connection."""
        if not self.replicas or not markers:
            return
        if isinstance(self.redis, RedisCluster):
            redis = self.redis
            nodes = {
                node.name: (node, marker)
                for marker in markers
                for node in [self._primary_for(redis, marker)]
            }
            await _all(
                self._node_round(redis, node, [PipelineCommand(0, *_marker_write(marker))])
                for node, marker in nodes.values()
            )
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.execute_command(*_marker_write(markers[0]))  # one node: any marker moves it
            pipe.execute_command("WAIT", self.replicas, self.timeout_ms)
            _, confirmed = await pipe.execute()
        self._check(confirmed)

    def _check(self, confirmed: object) -> None:
        if int(str(confirmed)) < self.replicas:
            raise NotReplicated(
                f"{confirmed} of {self.replicas} replicas took the write within "
                f"{self.timeout_ms} ms (NEWSFEED_ACK_REPLICAS)"
            )

    # -- on a cluster --------------------------------------------------------

    async def _on_cluster(self, redis: RedisCluster, calls: Sequence[ScriptCall]) -> list[Any]:
        groups: dict[str, tuple[ClusterNode, list[int]]] = {}
        for position, call in enumerate(calls):
            node = self._primary_for(redis, call.keys[0])
            groups.setdefault(node.name, (node, []))[1].append(position)
        replies: list[Any] = [None] * len(calls)
        rounds = await _all(
            self._scripts_on(redis, node, [calls[i] for i in at]) for node, at in groups.values()
        )
        for (_, at), group_replies in zip(groups.values(), rounds, strict=True):
            for position, reply in zip(at, group_replies, strict=True):
                replies[position] = reply
        return replies

    def _primary_for(self, redis: RedisCluster, key: str) -> ClusterNode:
        node = redis.get_node_from_key(key)
        if node is None:
            raise Unconfirmed(f"no primary known for {key!r}")
        return node

    async def _scripts_on(
        self, redis: RedisCluster, node: ClusterNode, calls: Sequence[ScriptCall]
    ) -> list[Any]:
        """The calls, then WAIT, in one round trip on one connection of `node`;
        once more if `node` did not know a script (nothing ran then)."""
        for attempt in range(2):
            commands = [
                PipelineCommand(i, "EVALSHA", c.script.sha, len(c.keys), *c.keys, *c.args)
                for i, c in enumerate(calls)
            ]
            try:
                return await self._node_round(redis, node, commands)
            except NoScriptError:
                if attempt:
                    raise
                for script in {id(c.script): c.script for c in calls}.values():
                    await node.execute_command("SCRIPT LOAD", script.script)
        raise AssertionError("unreachable")

    async def _node_round(
        self, redis: RedisCluster, node: ClusterNode, commands: list[PipelineCommand]
    ) -> list[Any]:
        """`commands` and a WAIT on one connection of `node`: their replies."""
        commands.append(PipelineCommand(len(commands), "WAIT", self.replicas, self.timeout_ms))
        try:
            await node.execute_pipeline(commands)
        except (*_FAILOVER_ERRORS, *_CLOSED_UNDERNEATH) as error:
            raise await self._unconfirmed(redis, node, error) from error
        replies = [command.result for command in commands]
        errors = [reply for reply in replies if isinstance(reply, Exception)]
        for failure in errors:
            if isinstance(failure, _FAILOVER_ERRORS):
                raise await self._unconfirmed(redis, node, failure) from failure
        if errors and all(isinstance(reply, NoScriptError) for reply in replies[:-1]):
            raise errors[0]  # the node lacks the script: nothing ran
        if errors:  # a script's own error (or some scripts missing, others run)
            raise ResponseError(f"on {node.name}: {errors[0]}") from errors[0]
        self._check(replies.pop())
        return replies

    async def _unconfirmed(
        self, redis: RedisCluster, node: ClusterNode, error: Exception
    ) -> Unconfirmed:
        """Bring the slot map up to date after `error`; the error to raise."""
        if isinstance(error, MovedError):
            await redis.nodes_manager.move_slot(error)
        else:
            await self._refresh(redis)
        return Unconfirmed(f"write on {node.name} not confirmed: {type(error).__name__}: {error}")

    async def _refresh(self, redis: RedisCluster) -> None:
        """Re-read the cluster's slot map (at most every REFRESH_INTERVAL_S)."""
        if self._refreshing.locked():
            return
        async with self._refreshing:
            if time.monotonic() - self._refreshed_at < REFRESH_INTERVAL_S:
                return
            self._refreshed_at = time.monotonic()
            try:
                await redis.nodes_manager.initialize()
            except (*_FAILOVER_ERRORS, aioredis.RedisError):
                pass  # the next failure tries again


def _marker_write(marker: str) -> tuple[str | int, ...]:
    return ("SET", marker, "1", "PX", MARKER_TTL_MS)


async def _all(rounds: Iterable[Awaitable[T]]) -> list[T]:
    """Every round's result; the first failure raised only once every round
    ended (no write is left in flight behind an answer)."""
    results = await asyncio.gather(*rounds, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return cast(list[T], results)


async def _by_slot(redis: RedisCluster, calls: Sequence[ScriptCall]) -> list[Any]:
    """Without replicas on a cluster: each slot's calls one after another (a
    later call of an item lands after an earlier one), the slots at once.
    redis-py routes each call and follows MOVED and ASK itself."""
    by_slot: dict[int, list[int]] = {}
    for position, call in enumerate(calls):
        by_slot.setdefault(redis.keyslot(call.keys[0]), []).append(position)
    replies: list[Any] = [None] * len(calls)

    async def in_order(positions: list[int]) -> None:
        for position in positions:
            call = calls[position]
            replies[position] = await call.script(keys=call.keys, args=call.args)

    await asyncio.gather(*(in_order(positions) for positions in by_slot.values()))
    return replies
