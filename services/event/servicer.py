"""gRPC entry points: convert the request, call a use case, convert the result."""

from __future__ import annotations

from typing import Any

import grpc
from rewardmesh.event.v1 import event_pb2, event_pb2_grpc

from services.common.identity import current_principal
from services.common.paging import page_request
from services.event import converters as cv
from services.event.domain import ActivityReport, ClaimRequest
from services.event.ports import ClaimFilter
from services.event.use_cases import EventUseCases

Context = grpc.aio.ServicerContext[Any, Any]


class EventServicer(event_pb2_grpc.EventServiceServicer):
    def __init__(self, use_cases: EventUseCases) -> None:
        self._uc = use_cases

    async def CreateEvent(
        self, request: event_pb2.CreateEventRequest, context: Context
    ) -> event_pb2.CreateEventResponse:
        event = await self._uc.create_event(current_principal(), cv.event_draft(request))
        return event_pb2.CreateEventResponse(event=cv.event_to_proto(event))

    async def GetEvent(
        self, request: event_pb2.GetEventRequest, context: Context
    ) -> event_pb2.GetEventResponse:
        event = await self._uc.get_event(request.event_id)
        return event_pb2.GetEventResponse(event=cv.event_to_proto(event))

    async def ListEvents(
        self, request: event_pb2.ListEventsRequest, context: Context
    ) -> event_pb2.ListEventsResponse:
        page = await self._uc.list_events(
            cv.status_in(request.status), page_request(request.page_size, request.page_token)
        )
        return event_pb2.ListEventsResponse(
            events=[cv.event_to_proto(e) for e in page.items], next_page_token=page.next_page_token
        )

    async def UpdateEvent(
        self, request: event_pb2.UpdateEventRequest, context: Context
    ) -> event_pb2.UpdateEventResponse:
        event = await self._uc.update_event(
            current_principal(), request.event_id, cv.event_changes(request)
        )
        return event_pb2.UpdateEventResponse(event=cv.event_to_proto(event))

    async def AddReward(
        self, request: event_pb2.AddRewardRequest, context: Context
    ) -> event_pb2.AddRewardResponse:
        reward = await self._uc.add_reward(
            current_principal(), request.event_id, cv.reward_draft(request)
        )
        return event_pb2.AddRewardResponse(reward=cv.reward_to_proto(reward))

    async def GetMyProgress(
        self, request: event_pb2.GetMyProgressRequest, context: Context
    ) -> event_pb2.GetMyProgressResponse:
        event, progress = await self._uc.get_progress(request.event_id, current_principal().subject)
        return event_pb2.GetMyProgressResponse(progress=cv.progress_to_proto(event, progress))

    async def CompleteEvent(
        self, request: event_pb2.CompleteEventRequest, context: Context
    ) -> event_pb2.CompleteEventResponse:
        event, progress = await self._uc.complete(current_principal().subject, request.event_id)
        return event_pb2.CompleteEventResponse(progress=cv.progress_to_proto(event, progress))

    async def ClaimReward(
        self, request: event_pb2.ClaimRewardRequest, context: Context
    ) -> event_pb2.ClaimRewardResponse:
        claim = await self._uc.claim(
            ClaimRequest(
                user_id=current_principal().subject,
                event_id=request.event_id,
                reward_id=request.reward_id,
                request_id=request.request_id,
                amount=request.amount,
            )
        )
        return event_pb2.ClaimRewardResponse(claim=cv.claim_to_proto(claim))

    async def ListMyClaims(
        self, request: event_pb2.ListMyClaimsRequest, context: Context
    ) -> event_pb2.ListMyClaimsResponse:
        where = ClaimFilter(
            user_id=current_principal().subject,
            event_id=request.event_id or None,
            status=cv.claim_status_in(request.status),
        )
        page = await self._uc.list_claims(
            where, page_request(request.page_size, request.page_token)
        )
        response = event_pb2.ListMyClaimsResponse(next_page_token=page.next_page_token)
        cv.add_claims(response.claims, page.items)
        return response

    async def ListClaims(
        self, request: event_pb2.ListClaimsRequest, context: Context
    ) -> event_pb2.ListClaimsResponse:
        where = ClaimFilter(
            user_id=request.user_id or None,
            event_id=request.event_id or None,
            reward_id=request.reward_id or None,
            status=cv.claim_status_in(request.status),
        )
        page = await self._uc.list_claims(
            where, page_request(request.page_size, request.page_token)
        )
        response = event_pb2.ListClaimsResponse(next_page_token=page.next_page_token)
        cv.add_claims(response.claims, page.items)
        return response

    async def GetEventStats(
        self, request: event_pb2.GetEventStatsRequest, context: Context
    ) -> event_pb2.GetEventStatsResponse:
        stats = await self._uc.stats(request.event_id)
        return event_pb2.GetEventStatsResponse(stats=cv.stats_to_proto(stats))

    async def ListAuditLogs(
        self, request: event_pb2.ListAuditLogsRequest, context: Context
    ) -> event_pb2.ListAuditLogsResponse:
        page = await self._uc.list_audit(
            request.actor_id or None,
            request.action or None,
            page_request(request.page_size, request.page_token),
        )
        return event_pb2.ListAuditLogsResponse(
            audit_logs=[cv.audit_to_proto(a) for a in page.items],
            next_page_token=page.next_page_token,
        )

    async def RecordActivity(
        self, request: event_pb2.RecordActivityRequest, context: Context
    ) -> event_pb2.RecordActivityResponse:
        await self._uc.record_activity(
            ActivityReport(
                user_id=request.user_id,
                activity=request.activity,
                amount=request.amount,
                idempotency_key=request.idempotency_key,
                occurred_at=cv.occurred_at(request),
            )
        )
        return event_pb2.RecordActivityResponse()

    async def GetPlayerProgress(
        self, request: event_pb2.GetPlayerProgressRequest, context: Context
    ) -> event_pb2.GetPlayerProgressResponse:
        event, progress = await self._uc.get_progress(request.event_id, request.user_id)
        return event_pb2.GetPlayerProgressResponse(progress=cv.progress_to_proto(event, progress))

    async def ListDeadLetters(
        self, request: event_pb2.ListDeadLettersRequest, context: Context
    ) -> event_pb2.ListDeadLettersResponse:
        page = await self._uc.list_dead_letters(page_request(request.page_size, request.page_token))
        return event_pb2.ListDeadLettersResponse(
            dead_letters=[cv.dead_letter_to_proto(d) for d in page.items],
            next_page_token=page.next_page_token,
        )

    async def ReplayDeadLetter(
        self, request: event_pb2.ReplayDeadLetterRequest, context: Context
    ) -> event_pb2.ReplayDeadLetterResponse:
        letter = await self._uc.replay_dead_letter(current_principal(), request.dead_letter_id)
        return event_pb2.ReplayDeadLetterResponse(dead_letter=cv.dead_letter_to_proto(letter))
