variable "env" {}

variable "env" {}
