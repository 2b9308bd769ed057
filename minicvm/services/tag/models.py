"""Tag 2018-08-13 request models (field names and types as in the official SDK). The Tag service's tag is
{TagKey, TagValue}, where CVM and VPC say {Key, Value}."""

from __future__ import annotations

from minicvm.services.models import Req


class TagStruct(Req):
    TagKey: str
    TagValue: str
    Category: str | None = None


class TagKeyStruct(Req):
    TagKey: str


class TagFilter(Req):
    TagKey: str
    TagValue: list[str] | None = None


class TagResources(Req):
    ResourceList: list[str]
    Tags: list[TagStruct]


class UnTagResources(Req):
    ResourceList: list[str]
    TagKeys: list[str]


class GetResources(Req):
    ResourceList: list[str] | None = None
    TagFilters: list[TagFilter] | None = None
    PaginationToken: str | None = None
    MaxResults: int | None = None


class GetTagKeys(Req):
    PaginationToken: str | None = None
    MaxResults: int | None = None
    Category: str | None = None


class GetTagValues(Req):
    TagKeys: list[str]
    PaginationToken: str | None = None
    MaxResults: int | None = None
    Category: str | None = None


class GetTags(Req):
    PaginationToken: str | None = None
    MaxResults: int | None = None
    TagKeys: list[str] | None = None
    Category: str | None = None


class DescribeResourceTagsByResourceIds(Req):
    ServiceType: str
    ResourcePrefix: str
    ResourceIds: list[str]
    ResourceRegion: str
    Offset: int | None = None
    Limit: int | None = None
    Category: str | None = None


class AddResourceTag(Req):
    TagKey: str
    TagValue: str
    Resource: str


class DeleteResourceTag(Req):
    TagKey: str
    Resource: str


class ModifyResourceTags(Req):
    Resource: str
    ReplaceTags: list[TagStruct] | None = None
    DeleteTags: list[TagKeyStruct] | None = None
