# SPDX-License-Identifier: MIT
# bash completion for segctl(1)
# shellcheck disable=SC2207  # COMPREPLY=($(compgen ...)) is the completion idiom

# Names of existing objects, asked from segd (quietly: no daemon, no names).
_segctl_names()
{
	local resource=$1 ns=$2 line
	local -a args=(get "$resource" -o name)

	[[ -n $_segctl_socket ]] && args+=(--socket "$_segctl_socket")
	if [[ $resource == networkpolicies ]]; then
		[[ -n $ns ]] && args+=(-n "$ns") || args+=(-A)
	fi
	while IFS= read -r line; do
		printf '%s\n' "${line##*/}"
	done < <(segctl "${args[@]}" 2>/dev/null)
}

_segctl()
{
	local cur prev words cword
	if declare -F _init_completion >/dev/null; then
		_init_completion || return
	else
		cur=${COMP_WORDS[COMP_CWORD]}
		prev=${COMP_WORDS[COMP_CWORD - 1]}
		words=("${COMP_WORDS[@]}")
		cword=$COMP_CWORD
	fi

	local commands="apply delete diff get endpoint rules check matrix flows status help"
	local verb="" sub="" resource="" ns="" i
	local -a positional=()
	_segctl_socket=""

	# Find the verb, sub-verb, resource and the options given so far.
	for ((i = 1; i < cword; i++)); do
		case ${words[i]} in
		--socket) _segctl_socket=${words[i + 1]}; ((i++)) ;;
		--socket=*) _segctl_socket=${words[i]#--socket=} ;;
		-n | --namespace) ns=${words[i + 1]}; ((i++)) ;;
		-f) [[ $verb == flows ]] || ((i++)) ;;	# flows -f is --follow
		--filename | -o | --output | -l | --label | -p | --port | --netns | --endpoint | \
			--verdict | --since | --after) ((i++)) ;;
		-*) ;;
		*)
			if [[ -z $verb ]]; then
				verb=${words[i]}
			else
				positional+=("${words[i]}")
			fi
			;;
		esac
	done

	case $prev in
	--socket)
		compopt -o filenames 2>/dev/null
		COMPREPLY=($(compgen -f -- "$cur"))
		return
		;;
	-f | --filename)
		[[ $verb == flows && $prev == -f ]] && return
		compopt -o filenames 2>/dev/null
		COMPREPLY=($(compgen -f -X '!*.@(json|yaml|yml)' -- "$cur") $(compgen -d -- "$cur"))
		[[ -z $cur ]] && COMPREPLY+=(-)
		return
		;;
	-o | --output)
		case $verb in
		get) COMPREPLY=($(compgen -W "table json yaml name" -- "$cur")) ;;
		matrix) COMPREPLY=($(compgen -W "table csv dot json yaml" -- "$cur")) ;;
		flows) COMPREPLY=($(compgen -W "table json" -- "$cur")) ;;
		apply | delete | endpoint) COMPREPLY=($(compgen -W "json yaml" -- "$cur")) ;;
		*) COMPREPLY=($(compgen -W "table json yaml" -- "$cur")) ;;
		esac
		return
		;;
	-n | --namespace)
		COMPREPLY=($(compgen -W "$(_segctl_names namespaces)" -- "$cur"))
		return
		;;
	--netns)
		COMPREPLY=($(compgen -W "$(ls /run/netns 2>/dev/null)" -- "$cur"))
		return
		;;
	--endpoint)
		COMPREPLY=($(compgen -W "$(_segctl_names endpoints)" -- "$cur"))
		return
		;;
	--verdict)
		COMPREPLY=($(compgen -W "denied allowed" -- "$cur"))
		return
		;;
	-l | --label | -p | --port | --since | --after)
		return
		;;
	esac

	if [[ -z $verb ]]; then
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "--socket --help --version" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "$commands" -- "$cur"))
		fi
		return
	fi

	local opts="--socket --help"
	case $verb in
	help)
		[[ ${#positional[@]} -eq 0 ]] && COMPREPLY=($(compgen -W "$commands" -- "$cur"))
		return
		;;
	apply)
		opts+=" -f --filename --dry-run -o --output"
		;;
	delete)
		opts+=" -f --filename -n --namespace -o --output"
		if [[ $cur != -* ]]; then
			if [[ ${#positional[@]} -eq 0 ]]; then
				COMPREPLY=($(compgen -W "networkpolicy endpoint" -- "$cur"))
			else
				case ${positional[0]} in
				networkpolicy | networkpolicies | netpol)
					resource=networkpolicies ;;
				endpoint | endpoints | ep) resource=endpoints ;;
				esac
				[[ -n $resource ]] &&
					COMPREPLY=($(compgen -W "$(_segctl_names $resource "$ns")" -- "$cur"))
			fi
			return
		fi
		;;
	get)
		opts+=" -n --namespace -A --all-namespaces -o --output"
		if [[ $cur != -* ]]; then
			case ${#positional[@]} in
			0) COMPREPLY=($(compgen -W "endpoints networkpolicies namespaces" -- "$cur")) ;;
			1)
				case ${positional[0]} in
				endpoints | endpoint | ep) resource=endpoints ;;
				networkpolicies | networkpolicy | netpol) resource=networkpolicies ;;
				namespaces | namespace | ns) resource=namespaces ;;
				esac
				[[ -n $resource ]] &&
					COMPREPLY=($(compgen -W "$(_segctl_names $resource "$ns")" -- "$cur"))
				;;
			esac
			return
		fi
		;;
	endpoint)
		sub=${positional[0]:-}
		if [[ -z $sub ]]; then
			[[ $cur == -* ]] && COMPREPLY=($(compgen -W "$opts" -- "$cur")) ||
				COMPREPLY=($(compgen -W "add label del delete rm" -- "$cur"))
			return
		fi
		case $sub in
		add) opts+=" --netns -n --namespace -l --label -p --port -o --output" ;;
		label) opts+=" -o --output" ;;
		esac
		if [[ $cur != -* ]]; then
			case $sub in
			label | del | delete | rm)
				if [[ $sub != label || ${#positional[@]} -eq 1 ]]; then
					COMPREPLY=($(compgen -W "$(_segctl_names endpoints)" -- "$cur"))
				fi
				;;
			esac
			return
		fi
		;;
	rules)
		opts+=" -o --output"
		if [[ $cur != -* ]]; then
			[[ ${#positional[@]} -eq 0 ]] &&
				COMPREPLY=($(compgen -W "$(_segctl_names endpoints)" -- "$cur"))
			return
		fi
		;;
	status)
		opts+=" -o --output"
		;;
	diff)
		opts+=" -f --filename -o --output"
		;;
	check)
		opts+=" -o --output"
		if [[ $cur != -* ]]; then
			[[ ${#positional[@]} -lt 2 ]] &&
				COMPREPLY=($(compgen -W "$(_segctl_names endpoints)" -- "$cur"))
			return
		fi
		;;
	matrix)
		opts+=" -n --namespace -A --all-namespaces -p --port --probe -o --output"
		;;
	flows)
		opts+=" -f --follow --endpoint --verdict --since --after -o --output"
		;;
	*)
		return
		;;
	esac
	COMPREPLY=($(compgen -W "$opts" -- "$cur"))
}

complete -F _segctl segctl
