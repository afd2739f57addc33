from django import template

from mchis.access import masking

register = template.Library()
register.filter("mask_name", masking.mask_name)
register.filter("mask_document", masking.mask_document)
register.filter("mask_phone", masking.mask_phone)
