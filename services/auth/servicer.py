"""gRPC entry points: convert the request, call a use case, convert the result."""

from __future__ import annotations

from typing import Any

import grpc
from rewardmesh.auth.v1 import auth_pb2, auth_pb2_grpc

from services.auth.converters import role_from_proto, service_account_to_proto, user_to_proto
from services.auth.use_cases import AuthUseCases, Session
from services.common.identity import current_principal
from services.common.paging import page_request

Context = grpc.aio.ServicerContext[Any, Any]


def _session_fields(session: Session) -> dict[str, Any]:
    return {
        "access_token": session.access_token,
        "refresh_token": session.refresh_token,
        "token_type": "Bearer",
        "expires_in": session.expires_in,
        "user": user_to_proto(session.user),
    }


class AuthServicer(auth_pb2_grpc.AuthServiceServicer):
    def __init__(self, use_cases: AuthUseCases) -> None:
        self._uc = use_cases

    async def Register(
        self, request: auth_pb2.RegisterRequest, context: Context
    ) -> auth_pb2.RegisterResponse:
        user = await self._uc.register(request.email, request.password)
        return auth_pb2.RegisterResponse(user=user_to_proto(user))

    async def Login(
        self, request: auth_pb2.LoginRequest, context: Context
    ) -> auth_pb2.LoginResponse:
        session = await self._uc.login(request.email, request.password)
        return auth_pb2.LoginResponse(**_session_fields(session))

    async def RefreshToken(
        self, request: auth_pb2.RefreshTokenRequest, context: Context
    ) -> auth_pb2.RefreshTokenResponse:
        session = await self._uc.refresh(request.refresh_token)
        return auth_pb2.RefreshTokenResponse(**_session_fields(session))

    async def Logout(
        self, request: auth_pb2.LogoutRequest, context: Context
    ) -> auth_pb2.LogoutResponse:
        await self._uc.logout(current_principal(), request.refresh_token)
        return auth_pb2.LogoutResponse()

    async def IssueServiceToken(
        self, request: auth_pb2.IssueServiceTokenRequest, context: Context
    ) -> auth_pb2.IssueServiceTokenResponse:
        token, expires_in = await self._uc.issue_service_token(
            request.client_id, request.client_secret
        )
        return auth_pb2.IssueServiceTokenResponse(access_token=token, expires_in=expires_in)

    async def GetMe(
        self, request: auth_pb2.GetMeRequest, context: Context
    ) -> auth_pb2.GetMeResponse:
        user = await self._uc.get_user(current_principal().subject)
        return auth_pb2.GetMeResponse(user=user_to_proto(user))

    async def ListUsers(
        self, request: auth_pb2.ListUsersRequest, context: Context
    ) -> auth_pb2.ListUsersResponse:
        page = await self._uc.list_users(page_request(request.page_size, request.page_token))
        return auth_pb2.ListUsersResponse(
            users=[user_to_proto(u) for u in page.items], next_page_token=page.next_page_token
        )

    async def SetUserRole(
        self, request: auth_pb2.SetUserRoleRequest, context: Context
    ) -> auth_pb2.SetUserRoleResponse:
        user = await self._uc.set_user_role(
            current_principal(), request.user_id, role_from_proto(request.role)
        )
        return auth_pb2.SetUserRoleResponse(user=user_to_proto(user))

    async def CreateServiceAccount(
        self, request: auth_pb2.CreateServiceAccountRequest, context: Context
    ) -> auth_pb2.CreateServiceAccountResponse:
        issued = await self._uc.create_service_account(current_principal(), request.name)
        return auth_pb2.CreateServiceAccountResponse(
            service_account=service_account_to_proto(issued.account), client_secret=issued.secret
        )

    async def ListServiceAccounts(
        self, request: auth_pb2.ListServiceAccountsRequest, context: Context
    ) -> auth_pb2.ListServiceAccountsResponse:
        page = await self._uc.list_service_accounts(
            page_request(request.page_size, request.page_token)
        )
        return auth_pb2.ListServiceAccountsResponse(
            service_accounts=[service_account_to_proto(a) for a in page.items],
            next_page_token=page.next_page_token,
        )

    async def RotateServiceAccountSecret(
        self, request: auth_pb2.RotateServiceAccountSecretRequest, context: Context
    ) -> auth_pb2.RotateServiceAccountSecretResponse:
        issued = await self._uc.rotate_service_account_secret(
            current_principal(), request.service_account_id
        )
        return auth_pb2.RotateServiceAccountSecretResponse(
            service_account=service_account_to_proto(issued.account), client_secret=issued.secret
        )

    async def DisableServiceAccount(
        self, request: auth_pb2.DisableServiceAccountRequest, context: Context
    ) -> auth_pb2.DisableServiceAccountResponse:
        account = await self._uc.disable_service_account(
            current_principal(), request.service_account_id
        )
        return auth_pb2.DisableServiceAccountResponse(
            service_account=service_account_to_proto(account)
        )
