"""fractafrag shader, feed, vote, desire, generation and payment endpoints (seed 004), under /api/v1/.

Thin: validate with a serializer, call a service, shape the answer. Lists answer a JSON array.
"""

from __future__ import annotations

import hashlib
import random
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import IsAuthenticated, IsAuthenticatedOrReadOnly
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.scopes import Scope, read_write
from accounts.views import FractafragView, validated
from config.errors import NotImplementedYet
from shaders import desires, engagement, feed, services
from shaders.serializers import (
    CreditsSerializer,
    DesireCreateSerializer,
    DesireDetailSerializer,
    DesireListQuerySerializer,
    DesireSerializer,
    DwellSerializer,
    FeedQuerySerializer,
    FulfillSerializer,
    MineQuerySerializer,
    PageSerializer,
    ReplaySerializer,
    ShaderDetailSerializer,
    ShaderListQuerySerializer,
    ShaderSummarySerializer,
    ShaderUpdateSerializer,
    ShaderVersionSerializer,
    ShaderVersionSummarySerializer,
    ShaderWriteSerializer,
    VoteResultSerializer,
    VoteSerializer,
)


def query(serializer_class: Any, request: Request) -> dict[str, Any]:
    serializer = serializer_class(data=request.query_params.dict())
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def page(items: Any, params: dict[str, Any]) -> Any:
    return items[params["offset"] : params["offset"] + params["limit"]]


def summaries(shaders: Any, request: Request) -> list[dict]:
    return ShaderSummarySerializer(shaders, many=True, context={"request": request}).data


def detail(saved: Any, request: Request, status_code: int = 200) -> Response:
    shader = getattr(saved, "shader", saved)
    body = dict(ShaderDetailSerializer(shader, context={"request": request}).data)
    if hasattr(saved, "warnings"):
        body["warnings"] = [w.as_dict() for w in saved.warnings]
    return Response(body, status=status_code)


def _optional_body(serializer_class: Any, request: Request) -> dict[str, Any]:
    """Bodies that may be omitted altogether (replay): no body means the defaults."""
    if not request.data:
        serializer = serializer_class(data={})
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data
    return validated(serializer_class, request)


# --- shaders --------------------------------------------------------------------------------------


class ShaderCommunityView(FractafragView):
    """The community endpoints: an API key reads with ``shaders:read`` and writes with ``shaders:write``."""

    key_scope = read_write(Scope.SHADERS_READ, Scope.SHADERS_WRITE)


class ShaderListView(ShaderCommunityView):
    permission_classes = [IsAuthenticatedOrReadOnly]

    @extend_schema(
        description="List/search public published shaders.",
        parameters=[ShaderListQuerySerializer],
        responses=ShaderSummarySerializer(many=True),
        summary="List/search public published shaders",
    )
    def get(self, request: Request) -> Response:
        params = query(ShaderListQuerySerializer, request)
        tags = services.normalize_tags(params.get("tags") or "")
        shaders = services.search(
            q=(params.get("q") or "").strip(),
            tags=tags,
            shader_type=params.get("shader_type"),
            system=params.get("system"),
            sort=params["sort"],
        )
        return Response(summaries(page(shaders, params), request))

    @extend_schema(
        description="Create a new shader. Requires auth. Validates GLSL syntax before saving; free tier: 5 "
        "published shaders/month rate limit; enqueues render task if published; returns 422 with GLSL "
        "errors/warnings on validation failure.",
        request=ShaderWriteSerializer,
        responses={201: ShaderDetailSerializer},
        summary="Create a shader (GLSL validated; 422 on errors)",
    )
    def post(self, request: Request) -> Response:
        data = validated(ShaderWriteSerializer, request)
        saved = services.create_shader(request.user, **data)
        return detail(saved, request, status.HTTP_201_CREATED)


class MyShadersView(ShaderCommunityView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        description="List authenticated user's shaders (drafts, published, archived). Accepts status filter.",
        parameters=[MineQuerySerializer],
        responses=ShaderSummarySerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        params = query(MineQuerySerializer, request)
        return Response(summaries(page(services.mine(request.user, params.get("status")), params), request))


class ShaderDetailView(ShaderCommunityView):
    permission_classes = [IsAuthenticatedOrReadOnly]

    @extend_schema(
        description="Get full shader details including GLSL source. Increments view_count.",
        responses=ShaderDetailSerializer,
        summary="Shader with GLSL source (counts a view)",
    )
    def get(self, request: Request, shader_id: str) -> Response:
        shader = services.get_visible(request.user, shader_id)
        services.record_view(shader, request.user, request.headers.get("X-Session-Id", ""))
        return detail(shader, request)

    @extend_schema(
        description="Update a shader. Creates a new version snapshot if code/metadata changed. Re-renders "
        "if published.",
        request=ShaderUpdateSerializer,
        responses=ShaderDetailSerializer,
    )
    def put(self, request: Request, shader_id: str) -> Response:
        data = validated(ShaderUpdateSerializer, request, partial=True)
        return detail(services.update_shader(request.user, shader_id, data), request)

    patch = put

    @extend_schema(
        description="Delete a shader (cascades to versions, votes, events).",
        responses={204: None},
        summary="Delete (cascades to versions, votes, events)",
    )
    def delete(self, request: Request, shader_id: str) -> Response:
        services.delete_shader(request.user, shader_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ShaderVersionListView(ShaderCommunityView):
    @extend_schema(
        description="List version history for a shader.", responses=ShaderVersionSummarySerializer(many=True)
    )
    def get(self, request: Request, shader_id: str) -> Response:
        shader = services.get_visible(request.user, shader_id)
        versions = shader.versions.select_related("created_by").order_by("-number")
        return Response(ShaderVersionSummarySerializer(versions, many=True).data)


class ShaderVersionDetailView(ShaderCommunityView):
    @extend_schema(
        description="Get GLSL code and metadata for a specific version.", responses=ShaderVersionSerializer
    )
    def get(self, request: Request, shader_id: str, version_number: int) -> Response:
        shader = services.get_visible(request.user, shader_id)
        return Response(ShaderVersionSerializer(services.get_version(shader, version_number)).data)


class ShaderRestoreView(ShaderCommunityView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        description="Restore shader to a previous version (creates new version snapshot).",
        request=None,
        responses=ShaderDetailSerializer,
        summary="Restore a version as a new version",
    )
    def post(self, request: Request, shader_id: str, version_number: int) -> Response:
        return detail(services.restore_version(request.user, shader_id, version_number), request)


class ShaderForkView(ShaderCommunityView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        description="Fork a shader. Creates a draft copy linked to the original.",
        request=None,
        responses={201: ShaderDetailSerializer},
        summary="Fork into a draft copy",
    )
    def post(self, request: Request, shader_id: str) -> Response:
        return detail(services.fork_shader(request.user, shader_id), request, status.HTTP_201_CREATED)


# --- votes and engagement -------------------------------------------------------------------------


def vote_body(result: engagement.VoteResult) -> dict[str, Any]:
    shader = result.shader
    return {
        "shader_id": str(shader.pk),
        "value": result.value,
        "upvotes": shader.upvotes,
        "downvotes": shader.downvotes,
        "score": shader.score,
        "hot_score": shader.hot_score,
    }


class VoteView(ShaderCommunityView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        description="Cast or change vote. Recalculates shader hot score. Values: 1 (upvote), -1 (downvote).",
        request=VoteSerializer,
        responses=VoteResultSerializer,
        summary="Cast or change a vote (409 when unchanged)",
    )
    def post(self, request: Request, shader_id: str) -> Response:
        data = validated(VoteSerializer, request)
        return Response(vote_body(engagement.cast_vote(request.user, shader_id, data["value"])))

    @extend_schema(
        description="Remove vote. Recalculates score.",
        responses=VoteResultSerializer,
        summary="Remove your vote",
    )
    def delete(self, request: Request, shader_id: str) -> Response:
        return Response(vote_body(engagement.remove_vote(request.user, shader_id)))


class ReplayView(ShaderCommunityView):
    @extend_schema(
        description="Report a shader replay event (engagement signal).",
        request=ReplaySerializer,
        responses={204: None},
    )
    def post(self, request: Request, shader_id: str) -> Response:
        data = _optional_body(ReplaySerializer, request)
        engagement.record_replay(request.user, shader_id, data.get("session_id", ""))
        return Response(status=status.HTTP_204_NO_CONTENT)


class DwellView(ShaderCommunityView):
    @extend_schema(
        description="Report dwell time (used for engagement tracking and tag affinity building).",
        request=DwellSerializer,
        responses={204: None},
    )
    def post(self, request: Request) -> Response:
        data = validated(DwellSerializer, request)
        engagement.record_dwell(request.user, data["shader_id"], data["dwell_secs"], data["session_id"])
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- feed -----------------------------------------------------------------------------------------


def _feed_rng(request: Request, session_id: str) -> random.Random:
    """Randomness stable for one viewer within the hour, so paging through the feed stays consistent."""
    from django.utils import timezone

    who = f"user:{request.user.pk}" if request.user.is_authenticated else f"session:{session_id}"
    if who == "session:":
        return random.Random()
    seed = hashlib.sha256(f"{who}:{timezone.now():%Y%m%d%H}".encode()).digest()
    return random.Random(int.from_bytes(seed[:8], "big"))


class FeedView(ShaderCommunityView):
    @extend_schema(
        description="Main personalized feed. Authenticated: tag affinity (from votes + dwell) + recency + "
        "score + 10% randomness; anonymous: score + recency + 10% randomness; excludes shaders the user "
        "has already viewed.",
        parameters=[FeedQuerySerializer],
        responses=ShaderSummarySerializer(many=True),
        summary="Personalised feed",
    )
    def get(self, request: Request) -> Response:
        params = query(FeedQuerySerializer, request)
        session_id = params.get("session_id", "")
        user_id = request.user.pk if request.user.is_authenticated else None
        ranked = feed.personalized(
            user_id, session_id, params["limit"], params["offset"], rng=_feed_rng(request, session_id)
        )
        return Response(summaries([r.shader for r in ranked], request))


class TrendingFeedView(ShaderCommunityView):
    @extend_schema(
        description="Pure score-ranked (Wilson score + time decay).",
        parameters=[PageSerializer],
        responses=ShaderSummarySerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        params = query(PageSerializer, request)
        return Response(summaries(page(feed.trending(), params), request))


class NewFeedView(ShaderCommunityView):
    @extend_schema(
        description="Newest shaders first.",
        parameters=[PageSerializer],
        responses=ShaderSummarySerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        params = query(PageSerializer, request)
        return Response(summaries(page(feed.newest(), params), request))


class SimilarFeedView(ShaderCommunityView):
    @extend_schema(
        description="Tag-overlap-based similar shader recommendations.",
        parameters=[PageSerializer],
        responses=ShaderSummarySerializer(many=True),
    )
    def get(self, request: Request, shader_id: str) -> Response:
        params = query(PageSerializer, request)
        shader = services.get_visible(request.user, shader_id)
        return Response(summaries(feed.similar(shader, params["limit"], params["offset"]), request))


# --- desires --------------------------------------------------------------------------------------


def desire_detail(desire: Any) -> dict[str, Any]:
    body = dict(DesireSerializer(desire).data)
    body.update(desires.cluster_context(desire))
    return body


class DesireListView(ShaderCommunityView):
    permission_classes = [IsAuthenticatedOrReadOnly]

    @extend_schema(
        description="List open bounties sorted by heat_score.",
        parameters=[DesireListQuerySerializer],
        responses=DesireSerializer(many=True),
        summary="Bounties by heat score",
    )
    def get(self, request: Request) -> Response:
        params = query(DesireListQuerySerializer, request)
        rows = page(desires.list_desires(params["status"], params["min_heat"]), params)
        return Response(DesireSerializer(rows, many=True).data)

    @extend_schema(
        description="Create a bounty request. Requires auth (Pro+ tier). Enqueues async embedding + "
        "clustering task.",
        request=DesireCreateSerializer,
        responses={201: DesireDetailSerializer},
        summary="Create a bounty (Pro+)",
    )
    def post(self, request: Request) -> Response:
        data = validated(DesireCreateSerializer, request)
        desire = desires.create_desire(
            request.user, data["prompt_text"], data["style_hints"], data["tip_amount_cents"]
        )
        return Response(desire_detail(desire), status=status.HTTP_201_CREATED)


class DesireDetailView(ShaderCommunityView):
    @extend_schema(
        description="Get single desire with cluster context (cluster_count, similar desires).",
        responses=DesireDetailSerializer,
        summary="A desire with its cluster context",
    )
    def get(self, request: Request, desire_id: str) -> Response:
        return Response(desire_detail(desires.get_desire(desire_id)))


class DesireFulfillView(ShaderCommunityView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        description="Mark a desire as fulfilled by linking to a published shader.",
        request=FulfillSerializer,
        responses=DesireDetailSerializer,
        summary="Link a published shader",
    )
    def post(self, request: Request, desire_id: str) -> Response:
        data = validated(FulfillSerializer, request)
        return Response(desire_detail(desires.fulfill(request.user, desire_id, data["shader_id"])))


class DesireTipView(ShaderCommunityView):
    @extend_schema(
        description="Add tip to bounty (501 \u2014 coming in M4).",
        request=None,
        responses={501: None},
        summary="Tip a bounty (501 until M4)",
    )
    def post(self, request: Request, desire_id: str) -> Response:
        return desires.tip(desire_id)  # the seed's 501 until payments land (M4)


# --- AI generation (M5) and payments (M4): stubs --------------------------------------------------

GENERATE_MESSAGE = "AI generation is not implemented yet (M5)"
PAYMENTS_MESSAGE = "Payments are not implemented yet (M4)"


class GenerateView(ShaderCommunityView):
    @extend_schema(
        description="Start AI shader generation. Returns 501 (Not Implemented).",
        request=None,
        responses={501: None},
        summary=GENERATE_MESSAGE,
    )
    def post(self, request: Request) -> Response:
        raise NotImplementedYet(GENERATE_MESSAGE)


class GenerateStatusView(ShaderCommunityView):
    @extend_schema(
        description="Poll generation status. Returns 501.", responses={501: None}, summary=GENERATE_MESSAGE
    )
    def get(self, request: Request, job_id: str) -> Response:
        raise NotImplementedYet(GENERATE_MESSAGE)


class PaymentsPostStub(FractafragView):
    @extend_schema(
        description="Payment endpoints return 501 (Not Implemented) until M4.",
        request=None,
        responses={501: None},
        summary=PAYMENTS_MESSAGE,
    )
    def post(self, request: Request) -> Response:
        raise NotImplementedYet(PAYMENTS_MESSAGE)


class PaymentsGetStub(FractafragView):
    @extend_schema(
        description="Payment endpoints return 501 (Not Implemented) until M4.",
        responses={501: None},
        summary=PAYMENTS_MESSAGE,
    )
    def get(self, request: Request) -> Response:
        raise NotImplementedYet(PAYMENTS_MESSAGE)


class GenerateCreditsView(ShaderCommunityView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        description="Check remaining AI credits.",
        responses=CreditsSerializer,
        summary="Remaining AI credits of the caller",
    )
    def get(self, request: Request) -> Response:
        user = request.user
        user.refresh_from_db(fields=["credit_balance", "tier"])
        return Response({"credits_remaining": user.credit_balance, "tier": user.tier})
